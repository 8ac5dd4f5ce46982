package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestFailureReasonsAndReprocessPreview(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	row := func(instance, status, reason string) int64 {
		m := b.message(descriptor(wamedia.Image))
		m.InstanceID = instance
		id := b.record(t, m)[0].MediaID
		if status != catalog.StatusPending {
			require.NoError(t, b.store.Fail(b.ctx, id, status, reason))
		}
		return id
	}
	for range 3 {
		row(b.instance, catalog.StatusFailed, "type_mismatch")
	}
	row(b.instance, catalog.StatusFailed, "timeout")
	row(b.instance, catalog.StatusExpired, "expired")
	row(b.instance, catalog.StatusPending, "")
	row(other.InstanceID, catalog.StatusFailed, "timeout")
	row(other.InstanceID, catalog.StatusFailed, "timeout")

	reasons, err := b.op.FailureReasons(b.ctx, 0)
	require.NoError(t, err)
	require.Equal(t, []catalog.ReasonCount{
		{catalog.StatusFailed, "timeout", 3}, {catalog.StatusFailed, "type_mismatch", 3},
		{catalog.StatusExpired, "expired", 1},
	}, reasons, "most frequent first, ties by name")
	reasons, err = b.op.FailureReasons(b.ctx, other.ClienteID)
	require.NoError(t, err)
	require.Equal(t, []catalog.ReasonCount{{catalog.StatusFailed, "timeout", 2}}, reasons)

	// The preview counts what a reset would take, and the reset takes
	// exactly that.
	f := catalog.ReprocessFilter{ClienteID: b.clienteID}
	preview, err := b.op.ReprocessPreview(b.ctx, f)
	require.NoError(t, err)
	require.Equal(t, []catalog.ReasonCount{
		{catalog.StatusFailed, "type_mismatch", 3}, {catalog.StatusExpired, "expired", 1}, {catalog.StatusFailed, "timeout", 1},
	}, preview)
	f.Reasons = []string{"timeout", "expired"}
	preview, err = b.op.ReprocessPreview(b.ctx, f)
	require.NoError(t, err)
	require.Len(t, preview, 2)
	refs, err := b.store.ResetForReprocess(b.ctx, f)
	require.NoError(t, err)
	require.Len(t, refs, 2, "type_mismatch left alone")
	_, reason := b.status(t, refs[0].ID)
	require.Empty(t, reason)

	// "" is a row without a reason: the pending ones.
	pending := catalog.ReprocessFilter{Statuses: []string{catalog.StatusPending}, ClienteID: b.clienteID, Reasons: []string{""}}
	preview, err = b.op.ReprocessPreview(b.ctx, pending)
	require.NoError(t, err)
	require.Equal(t, []catalog.ReasonCount{{catalog.StatusPending, "", 3}}, preview, "the two reset and the one never tried")

	_, err = b.op.ReprocessPreview(b.ctx, catalog.ReprocessFilter{Statuses: []string{catalog.StatusSuccess}})
	require.Error(t, err)
}
