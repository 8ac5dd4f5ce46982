package catalog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestResetForReprocess(t *testing.T) {
	b := setup(t)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)

	row := func(instance string, typ wamedia.MediaType, status, reason string) int64 {
		m := b.message(descriptor(typ))
		m.InstanceID = instance
		id := b.record(t, m)[0].MediaID
		switch status {
		case catalog.StatusSuccess:
			require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{Path: "p", Size: 1}))
		case catalog.StatusFailed, catalog.StatusExpired:
			require.NoError(t, b.store.Fail(b.ctx, id, status, reason))
		}
		return id
	}
	failed := row(b.instance, wamedia.Image, catalog.StatusFailed, "mac_mismatch")
	expired := row(b.instance, wamedia.Video, catalog.StatusExpired, "expired")
	pending := row(b.instance, wamedia.Audio, catalog.StatusPending, "")
	row(b.instance, wamedia.Image, catalog.StatusSuccess, "")
	otherFailed := row(other.InstanceID, wamedia.Sticker, catalog.StatusFailed, "timeout")
	incomplete := descriptor(wamedia.Document)
	incomplete.FileSHA256 = nil
	incomplete.Check()
	b.record(t, b.message(incomplete)) // failed, missing_fields: never reprocessed

	// Old failures are outside a short window.
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `UPDATE media_files SET updated_at = now() - interval '2 hours' WHERE id = $1`, expired)
	require.NoError(t, err)
	mine := func(id int64, typ wamedia.MediaType) catalog.PendingDownload {
		return catalog.PendingDownload{ID: id, Type: typ, ClienteID: b.clienteID, InstanceID: b.instance}
	}
	theirs := func(id int64, typ wamedia.MediaType) catalog.PendingDownload {
		return catalog.PendingDownload{ID: id, Type: typ, ClienteID: other.ClienteID, InstanceID: other.InstanceID}
	}
	refs, err := b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{ClienteID: b.clienteID, Since: time.Hour})
	require.NoError(t, err)
	require.Equal(t, []catalog.PendingDownload{mine(failed, wamedia.Image)}, refs)
	status, reason := b.status(t, failed)
	require.Equal(t, catalog.StatusPending, status)
	require.Empty(t, reason)

	// Default statuses, every cliente.
	refs, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{})
	require.NoError(t, err)
	require.ElementsMatch(t, []catalog.PendingDownload{mine(expired, wamedia.Video), theirs(otherFailed, wamedia.Sticker)}, refs)

	refs, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{})
	require.NoError(t, err)
	require.Empty(t, refs)

	refs, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{Statuses: []string{catalog.StatusPending}, ClienteID: other.ClienteID})
	require.NoError(t, err)
	require.Equal(t, []catalog.PendingDownload{theirs(otherFailed, wamedia.Sticker)}, refs)
	refs, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{Statuses: []string{catalog.StatusPending}})
	require.NoError(t, err)
	require.Len(t, refs, 4)
	require.Contains(t, refs, mine(pending, wamedia.Audio))

	_, err = b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{Statuses: []string{catalog.StatusSuccess}})
	require.Error(t, err)
}

func TestResetForReprocess_Chunks(t *testing.T) {
	b := setup(t)
	var msgs []catalog.Message
	for range 2500 {
		msgs = append(msgs, b.message(descriptor(wamedia.Image)))
	}
	rec := b.record(t, msgs...)
	_, err := pgtest.DB(t, b.store).Exec(b.ctx, `UPDATE media_files SET download_status = 'expired', failure_reason = 'expired'`)
	require.NoError(t, err)

	refs, err := b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{})
	require.NoError(t, err)
	require.Len(t, refs, len(rec))
	seen := map[int64]bool{}
	for _, r := range refs {
		seen[r.ID] = true
	}
	require.Len(t, seen, len(rec))
}
