package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestDownloadLifecycle(t *testing.T) {
	b := setup(t)
	d := descriptor(wamedia.Image)
	id := b.recordOne(t, d)

	attempts, proceed, err := b.store.StartDownload(b.ctx, id)
	require.NoError(t, err)
	require.True(t, proceed)
	require.Equal(t, 1, attempts)
	job, err := b.store.LoadJob(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, catalog.StatusDownloading, job.Status)
	require.Equal(t, 1, job.Attempts)

	// A redelivered job while downloading counts another attempt.
	attempts, proceed, err = b.store.StartDownload(b.ctx, id)
	require.NoError(t, err)
	require.True(t, proceed)
	require.Equal(t, 2, attempts)

	_, found, err := b.store.FindStored(b.ctx, b.clienteID, d.Type, d.FileSHA256)
	require.NoError(t, err)
	require.False(t, found)

	stored := catalog.Stored{Path: "1/ab/cd/abcd.jpg", Size: 7000, Mimetype: "image/png", SHA256: d.FileSHA256}
	require.NoError(t, b.store.Succeed(b.ctx, id, stored))
	status, reason := b.status(t, id)
	require.Equal(t, catalog.StatusSuccess, status)
	require.Empty(t, reason)

	got, found, err := b.store.FindStored(b.ctx, b.clienteID, d.Type, d.FileSHA256)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, stored, got)
	_, found, err = b.store.FindStored(b.ctx, b.clienteID, wamedia.Document, d.FileSHA256)
	require.NoError(t, err)
	require.False(t, found, "content verified as one media type is not reused for another")
	var declared, sniffed string
	require.NoError(t, b.store.Pool.QueryRow(b.ctx, `SELECT declared_mimetype, mimetype FROM media_files WHERE id = $1`, id).Scan(&declared, &sniffed))
	require.Equal(t, "image/jpeg", declared)
	require.Equal(t, "image/png", sniffed)

	// Other clientes never see this cliente's files.
	other, err := b.store.AddTenant(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	_, found, err = b.store.FindStored(b.ctx, other.ClienteID, d.Type, d.FileSHA256)
	require.NoError(t, err)
	require.False(t, found)

	// Nothing overwrites a success: not a late failure, not a redelivered
	// job, not a redelivered webhook, not a second success.
	require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusExpired, "expired"))
	attempts, proceed, err = b.store.StartDownload(b.ctx, id)
	require.NoError(t, err)
	require.False(t, proceed)
	require.Equal(t, 2, attempts)
	require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{Path: "other", Size: 1}))
	m := b.message(d)
	var mid string
	require.NoError(t, b.store.Pool.QueryRow(b.ctx, `SELECT message_id FROM media_files WHERE id = $1`, id).Scan(&mid))
	m.MessageID = mid
	rec := b.record(t, m)
	require.Equal(t, id, rec[0].MediaID)
	require.False(t, rec[0].Inserted)
	require.Equal(t, catalog.StatusSuccess, rec[0].Status)

	status, _ = b.status(t, id)
	require.Equal(t, catalog.StatusSuccess, status)
	got, _, err = b.store.FindStored(b.ctx, b.clienteID, d.Type, d.FileSHA256)
	require.NoError(t, err)
	require.Equal(t, stored, got)
}

func TestFail(t *testing.T) {
	b := setup(t)
	id := b.recordOne(t, descriptor(wamedia.Audio))
	_, _, err := b.store.StartDownload(b.ctx, id)
	require.NoError(t, err)
	require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusFailed, "mac_mismatch"))
	status, reason := b.status(t, id)
	require.Equal(t, catalog.StatusFailed, status)
	require.Equal(t, "mac_mismatch", reason)

	require.Error(t, b.store.Fail(b.ctx, id, catalog.StatusSuccess, "x"))
	require.Error(t, b.store.Fail(b.ctx, id, catalog.StatusFailed, ""))

	// A reprocessed row that then succeeds loses its old reason.
	require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{Path: "p", Size: 1, SHA256: sha("x")}))
	status, reason = b.status(t, id)
	require.Equal(t, catalog.StatusSuccess, status)
	require.Empty(t, reason)
}

func TestNotFound(t *testing.T) {
	b := setup(t)
	_, err := b.store.LoadJob(b.ctx, 999)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, _, err = b.store.StartDownload(b.ctx, 999)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	require.ErrorIs(t, b.store.Succeed(b.ctx, 999, catalog.Stored{Path: "p"}), catalog.ErrNotFound)
	require.ErrorIs(t, b.store.Fail(b.ctx, 999, catalog.StatusFailed, "timeout"), catalog.ErrNotFound)
	_, err = b.store.InstanceCliente(b.ctx, "NOBODY")
	require.ErrorIs(t, err, catalog.ErrNotFound)
}
