package catalog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
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
	job, err := b.store.LoadDownload(b.ctx, id)
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
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT declared_mimetype, mimetype FROM media_files WHERE id = $1`, id).Scan(&declared, &sniffed))
	require.Equal(t, "image/jpeg", declared)
	require.Equal(t, "image/png", sniffed)

	// Other clientes never see this cliente's files.
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
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
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT message_id FROM media_files WHERE id = $1`, id).Scan(&mid))
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
	_, err := b.store.LoadDownload(b.ctx, 999)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, _, err = b.store.StartDownload(b.ctx, 999)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	require.ErrorIs(t, b.store.Succeed(b.ctx, 999, catalog.Stored{Path: "p"}), catalog.ErrNotFound)
	require.ErrorIs(t, b.store.Fail(b.ctx, 999, catalog.StatusFailed, "timeout"), catalog.ErrNotFound)
	_, err = b.store.InstanceCliente(b.ctx, "NOBODY")
	require.ErrorIs(t, err, catalog.ErrNotFound)
}

// TestRetryState: a failed attempt to retry keeps its count and shows
// next_attempt_at and last_reason (rows, media reads, stats); a wait gives
// its attempt back; the retries running out fail the row with the most
// informative reason seen; a reprocess clears the retry state.
func TestRetryState(t *testing.T) {
	b := setup(t)
	id := b.recordOne(t, descriptor(wamedia.Image))
	other := b.recordOne(t, descriptor(wamedia.Video))

	_, _, err := b.store.StartDownload(b.ctx, id)
	require.NoError(t, err)
	next := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	require.NoError(t, b.store.RecordRetry(b.ctx, id, catalog.Retry{Next: next, Reason: "enc_hash_mismatch", Best: "enc_hash_mismatch", Verify: true}))
	job, err := b.store.LoadDownload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, catalog.StatusPending, job.Status)
	require.Equal(t, 1, job.Attempts)
	require.False(t, job.FirstAttempt.IsZero())
	require.Equal(t, "enc_hash_mismatch", job.LastReason)
	require.Equal(t, "enc_hash_mismatch", job.BestReason)
	require.Equal(t, 1, job.VerifyFailures)

	// A transfer failure: last_reason changes, the best reason stays.
	_, _, err = b.store.StartDownload(b.ctx, id)
	require.NoError(t, err)
	require.NoError(t, b.store.RecordRetry(b.ctx, id, catalog.Retry{Next: next, Reason: "http_error", Best: "enc_hash_mismatch"}))
	// A wait (the store unwritable) gives its attempt back.
	_, _, err = b.store.StartDownload(b.ctx, id)
	require.NoError(t, err)
	require.NoError(t, b.store.Defer(b.ctx, id, catalog.Retry{Next: next, Reason: "internal"}, true))
	job, err = b.store.LoadDownload(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, 2, job.Attempts, "the wait counted no attempt")
	require.Equal(t, "internal", job.LastReason)
	require.Equal(t, 1, job.VerifyFailures)

	m, err := b.op.AdminMediaByID(b.ctx, id)
	require.NoError(t, err)
	require.NotNil(t, m.NextAttemptAt)
	require.True(t, next.Equal(*m.NextAttemptAt))
	require.Equal(t, "internal", m.LastReason)
	st, err := b.op.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.EqualValues(t, 1, st.Retrying)
	all, err := b.op.Stats(b.ctx, 0)
	require.NoError(t, err)
	require.EqualValues(t, 1, all.Retrying)

	r, err := b.store.FailExhausted(b.ctx, id, "timeout")
	require.NoError(t, err)
	require.Equal(t, "enc_hash_mismatch", r, "the most informative reason seen")
	status, reason := b.status(t, id)
	require.Equal(t, catalog.StatusFailed, status)
	require.Equal(t, "enc_hash_mismatch", reason)
	m, err = b.op.AdminMediaByID(b.ctx, id)
	require.NoError(t, err)
	require.Nil(t, m.NextAttemptAt, "no longer retrying")
	st, err = b.op.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.Zero(t, st.Retrying)

	// Without a best reason, FailExhausted records the one given.
	r, err = b.store.FailExhausted(b.ctx, other, "internal")
	require.NoError(t, err)
	require.Equal(t, "internal", r)

	refs, err := b.store.ResetForReprocess(b.ctx, catalog.ReprocessFilter{})
	require.NoError(t, err)
	require.Len(t, refs, 2)
	job, err = b.store.LoadDownload(b.ctx, id)
	require.NoError(t, err)
	require.True(t, job.FirstAttempt.IsZero(), "a replay gets a fresh horizon")
	require.Empty(t, job.LastReason)
	require.Empty(t, job.BestReason)
	require.Zero(t, job.VerifyFailures)

	_, err = b.store.FailExhausted(b.ctx, 999_999, "timeout")
	require.ErrorIs(t, err, catalog.ErrNotFound)
	require.ErrorIs(t, b.store.RecordRetry(b.ctx, 999_999, catalog.Retry{Next: next}), catalog.ErrNotFound)
}
