package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// DownloadRow is what the downloader needs to fetch one media item.
type DownloadRow struct {
	MediaID    int64
	ClienteID  int64
	InstanceID string
	MessageID  string // the WhatsApp message the media came in, for logs
	WAPIToken  string // secret: for W-API's download-media fallback only
	// Provider is the instance's provider ("wapi", "evolution", ...); its
	// fallback to the bytes depends on it.
	Provider string
	// ProviderBase and ProviderKey are the instance's own server and its key
	// (secret): Evolution's getBase64FromMediaMessage.
	ProviderBase, ProviderKey string
	// ChatJID and FromMe complete the message key (with MessageID) that
	// Evolution finds the message by.
	ChatJID string
	FromMe  bool
	// Source is where the bytes are (cdn, file, graph: pkg/webhook); a
	// file's URL is Descriptor.URL, a graph item's id ProviderMediaID.
	// Integrity is how the item is verified as recorded (a CDN item fetched
	// through a fallback is verified by its sha256 only).
	Source          string
	ProviderMediaID string
	Integrity       string
	Status          string
	Attempts        int
	// FirstAttempt is when the first attempt started (zero before it): a
	// retry horizon counts from it.
	FirstAttempt time.Time
	// LastReason and BestReason are the reason of the latest failed attempt
	// and the most informative one seen; VerifyFailures counts the failed
	// attempts whose blob may be at fault. See RecordRetry.
	LastReason, BestReason string
	VerifyFailures         int
	// Descriptor is rebuilt from the row (without the thumbnail), with
	// Check already run.
	Descriptor wamedia.Descriptor
}

// LoadDownload reads the download job of media row id, or ErrNotFound.
func (s *Store) LoadDownload(ctx context.Context, id int64) (*DownloadRow, error) {
	j := &DownloadRow{MediaID: id}
	err := scanDownload(s.pool.QueryRow(ctx, loadDownloadSQL, id), j)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading media row %d: %w", id, err)
	}
	return j, nil
}

// StartDownload marks row id as downloading, counts the attempt and sets
// its first attempt time if it had none. When the
// row is already a success it changes nothing and proceed is false: the job
// is a redelivery and must just be acknowledged. Unknown ids give
// ErrNotFound.
func (s *Store) StartDownload(ctx context.Context, id int64) (attempts int, proceed bool, err error) {
	err = s.pool.QueryRow(ctx, `
		UPDATE media_files SET download_status = 'downloading', attempts = attempts + 1,
			first_attempt_at = COALESCE(first_attempt_at, now()), updated_at = now()
		WHERE id = $1 AND download_status <> 'success'
		RETURNING attempts`, id).Scan(&attempts)
	if err == nil {
		return attempts, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("starting download of media row %d: %w", id, err)
	}
	err = s.pool.QueryRow(ctx, `SELECT attempts FROM media_files WHERE id = $1`, id).Scan(&attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, ErrNotFound
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading media row %d: %w", id, err)
	}
	return attempts, false, nil
}

// Stored is a file in the file store, as recorded on a success row.
type Stored struct {
	Path     string // in the file store
	Size     int64
	Mimetype string // sniffed from the content
	SHA256   []byte // of the plain content
	// Integrity is how the file was verified (sha256+hmac, sha256,
	// content_only); empty keeps the row's.
	Integrity string
}

// FindStored returns a file of cliente clienteID whose plain content has the
// given SHA-256 and that was stored already for a row of the same media type,
// so a forwarded file is stored once per cliente. The media type must match:
// bytes verified as a document were never checked to be an image.
func (s *Store) FindStored(ctx context.Context, clienteID int64, mediaType wamedia.MediaType, sha256 []byte) (Stored, bool, error) {
	var st Stored
	err := s.pool.QueryRow(ctx, `
		SELECT file_path, file_size, COALESCE(mimetype, ''), file_sha256
		FROM media_files
		WHERE cliente_id = $1 AND file_sha256 = $2 AND media_type = $3 AND download_status = 'success' AND file_path IS NOT NULL
		LIMIT 1`, clienteID, sha256, string(mediaType)).Scan(&st.Path, &st.Size, &st.Mimetype, &st.SHA256)
	if errors.Is(err, pgx.ErrNoRows) {
		return Stored{}, false, nil
	}
	if err != nil {
		return Stored{}, false, fmt.Errorf("looking up stored file: %w", err)
	}
	return st, true, nil
}

// Succeed records that row id's file is stored. A row that is already a
// success keeps its first file. Unknown ids give ErrNotFound.
func (s *Store) Succeed(ctx context.Context, id int64, st Stored) error {
	if st.Path == "" {
		return errors.New("recording success: empty file path")
	}
	return s.finish(ctx, "recording success", id, `
		UPDATE media_files
		SET download_status = 'success', file_path = $2, file_size = $3, mimetype = COALESCE(NULLIF($4, ''), mimetype),
			file_sha256 = COALESCE($5, file_sha256), download_timestamp = now(), failure_reason = NULL,
			next_attempt_at = NULL, integrity = COALESCE(NULLIF($6, ''), integrity), updated_at = now()
		WHERE id = $1 AND download_status <> 'success'`,
		id, st.Path, st.Size, st.Mimetype, st.SHA256, st.Integrity)
}

// Fail records that row id's download failed for good: status is failed or
// expired, reason one of the stable failure reasons. A success row is left
// as it is. Unknown ids give ErrNotFound.
func (s *Store) Fail(ctx context.Context, id int64, status, reason string) error {
	if status != StatusFailed && status != StatusExpired {
		return fmt.Errorf("recording failure: status %q is not failed or expired", status)
	}
	if reason == "" {
		return errors.New("recording failure: empty reason")
	}
	return s.finish(ctx, "recording failure", id, `
		UPDATE media_files SET download_status = $2, failure_reason = $3, next_attempt_at = NULL, updated_at = now()
		WHERE id = $1 AND download_status <> 'success'`,
		id, status, reason)
}

// FailExhausted records that row id ran out of deliveries: failed, with the
// most informative reason its attempts saw (best_reason), else reason. It
// returns the reason recorded; a success row is left as it is (and its
// reason is ""). Unknown ids give ErrNotFound.
func (s *Store) FailExhausted(ctx context.Context, id int64, reason string) (string, error) {
	if reason == "" {
		return "", errors.New("recording exhausted download: empty reason")
	}
	var recorded string
	err := s.pool.QueryRow(ctx, `
		UPDATE media_files SET download_status = 'failed', failure_reason = COALESCE(best_reason, $2),
			next_attempt_at = NULL, updated_at = now()
		WHERE id = $1 AND download_status <> 'success'
		RETURNING failure_reason`, id, reason).Scan(&recorded)
	if err == nil {
		return recorded, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("recording exhausted download of media row %d: %w", id, err)
	}
	return "", s.mustExist(ctx, "recording exhausted download", id)
}

// Retry is what RecordRetry and Defer write on a row that will be tried
// again.
type Retry struct {
	Next   time.Time // when the next attempt is due
	Reason string    // the reason of this failure; "" keeps last_reason
	Best   string    // the most informative reason seen, this one included; "" keeps best_reason
	// Verify counts the failure among those whose blob may be at fault.
	Verify bool
}

// RecordRetry records a failed attempt of row id that will be retried at
// r.Next: the row goes back to pending with next_attempt_at, last_reason and
// best_reason set. The attempt stays counted. A success or a final row is
// left as it is. Unknown ids give ErrNotFound.
func (s *Store) RecordRetry(ctx context.Context, id int64, r Retry) error {
	return s.finish(ctx, "recording a retry", id, `
		UPDATE media_files SET download_status = 'pending', next_attempt_at = $2,
			last_reason = COALESCE(NULLIF($3, ''), last_reason), best_reason = COALESCE(NULLIF($4, ''), best_reason),
			verify_failures = verify_failures + CASE WHEN $5 THEN 1 ELSE 0 END, updated_at = now()
		WHERE id = $1 AND download_status IN ('pending', 'downloading')`,
		id, r.Next, r.Reason, r.Best, r.Verify)
}

// Defer puts row id back to pending until r.Next without counting an
// attempt: the attempt (if started) failed for a reason that is not the
// media's (the file store unwritable, a CDN host whose circuit is open), so
// it gives the attempt started for it back. r.Best and r.Verify are
// ignored; r.Reason, when set, becomes last_reason. uncount says whether an
// attempt was started (StartDownload) and must be given back.
func (s *Store) Defer(ctx context.Context, id int64, r Retry, uncount bool) error {
	return s.finish(ctx, "deferring a download", id, `
		UPDATE media_files SET download_status = 'pending', next_attempt_at = $2,
			last_reason = COALESCE(NULLIF($3, ''), last_reason),
			attempts = CASE WHEN $4 THEN greatest(attempts - 1, 0) ELSE attempts END, updated_at = now()
		WHERE id = $1 AND download_status IN ('pending', 'downloading')`,
		id, r.Next, r.Reason, uncount)
}

// finish runs an update of row id guarded against success rows; when it
// changes nothing, it tells a success row (fine) from a missing one.
func (s *Store) finish(ctx context.Context, what string, id int64, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s of media row %d: %w", what, id, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	return s.mustExist(ctx, what, id)
}

// mustExist returns ErrNotFound when row id does not exist.
func (s *Store) mustExist(ctx context.Context, what string, id int64) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM media_files WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("%s of media row %d: %w", what, id, err)
	}
	if !exists {
		return ErrNotFound
	}
	return nil
}
