package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestStats(t *testing.T) {
	b := setup(t)
	other, err := b.store.AddTenant(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)

	empty, err := b.store.Stats(b.ctx, 0)
	require.NoError(t, err)
	require.Zero(t, empty.Total)
	require.Empty(t, empty.ByType)

	// acme: the same image forwarded twice (one file on disk), a video that
	// failed, and an incomplete document.
	img := descriptor(wamedia.Image)
	rec := b.record(t, b.message(img), b.message(img), b.message(descriptor(wamedia.Video)))
	for _, r := range rec[:2] {
		require.NoError(t, b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{Path: "1/aa/bb/img.jpg", Size: 1000, Mimetype: "image/jpeg", SHA256: img.FileSHA256}))
	}
	require.NoError(t, b.store.Fail(b.ctx, rec[2].MediaID, catalog.StatusFailed, "mac_mismatch"))
	incomplete := descriptor(wamedia.Document)
	incomplete.DirectPath, incomplete.URL = "", ""
	incomplete.Check()
	b.record(t, b.message(incomplete))
	// globex: one pending audio.
	m := b.message(descriptor(wamedia.Audio))
	m.InstanceID = other.InstanceID
	b.record(t, m)

	acme, err := b.store.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.Equal(t, catalog.Stats{
		Total:       4,
		ByType:      map[string]int64{"image": 2, "video": 1, "document": 1},
		ByStatus:    map[string]int64{"success": 2, "failed": 2},
		ByInstance:  map[string]int64{b.instance: 4},
		ByReason:    map[string]int64{"mac_mismatch": 1, "missing_fields": 1},
		BytesStored: 2000,
		DiskBytes:   1000,
	}, acme)

	all, err := b.store.Stats(b.ctx, 0)
	require.NoError(t, err)
	require.Equal(t, int64(5), all.Total)
	require.Equal(t, int64(1), all.ByType["audio"])
	require.Equal(t, int64(1), all.ByStatus["pending"])
	require.Equal(t, int64(1), all.ByInstance[other.InstanceID])
	require.Equal(t, int64(1000), all.DiskBytes)
}
