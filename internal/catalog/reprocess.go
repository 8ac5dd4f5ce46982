package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// ReprocessFilter selects the rows ResetForReprocess resets.
type ReprocessFilter struct {
	Statuses  []string      // pending, downloading, failed, expired; empty: failed and expired
	ClienteID int64         // 0: every cliente
	Since     time.Duration // > 0: only rows updated within this long
	// Reasons, when not empty, keeps only the rows whose failure reason is
	// one of these ("" stands for a row without one).
	Reasons []string
}

// PendingDownload is a media row set back to pending, with what its download
// job (job.Download) needs.
type PendingDownload struct {
	ID         int64
	Type       wamedia.MediaType
	ClienteID  int64
	InstanceID string
}

// where returns the conditions and arguments ($1…) selecting f's rows.
func (f ReprocessFilter) where() ([]string, []any, error) {
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = []string{StatusFailed, StatusExpired}
	}
	for _, st := range statuses {
		switch st {
		case StatusPending, StatusDownloading, StatusFailed, StatusExpired:
		default:
			return nil, nil, fmt.Errorf("cannot reprocess status %q (want pending, downloading, failed or expired)", st)
		}
	}
	where := []string{"download_status = ANY($1)", "failure_reason IS DISTINCT FROM 'missing_fields'"}
	args := []any{statuses}
	if f.ClienteID != 0 {
		args = append(args, f.ClienteID)
		where = append(where, fmt.Sprintf("cliente_id = $%d", len(args)))
	}
	if f.Since > 0 {
		args = append(args, f.Since.Seconds())
		where = append(where, fmt.Sprintf("updated_at >= now() - make_interval(secs => $%d)", len(args)))
	}
	if len(f.Reasons) > 0 {
		args = append(args, f.Reasons)
		where = append(where, fmt.Sprintf("COALESCE(failure_reason, '') = ANY($%d)", len(args)))
	}
	return where, args, nil
}

// reprocessChunk bounds each reset transaction, so that millions of rows
// never sit in one.
const reprocessChunk = 1000

// ResetForReprocess sets the rows the filter selects back to pending, clears
// their failure reason and retry state (a replay gets a fresh retry
// horizon) and returns them, for their jobs to be published
// again. Rows failed with missing_fields are left alone (there is nothing to
// download) and so is every success. It works in chunks of its own
// transactions: after an error, the chunks already reset stay reset, and
// running it again picks up the rest.
func (s *Store) ResetForReprocess(ctx context.Context, f ReprocessFilter) ([]PendingDownload, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	cond := strings.Join(where, " AND ")
	args = append(args, 0) // the keyset cursor: last id seen
	cursor := len(args) - 1
	selectSQL := fmt.Sprintf(`SELECT id FROM media_files WHERE %s AND id > $%d ORDER BY id LIMIT %d`, cond, len(args), reprocessChunk)
	// The update re-checks the condition: a row may have changed (to a
	// success, say) since the select.
	updateSQL := fmt.Sprintf(`
		UPDATE media_files SET download_status = 'pending', failure_reason = NULL,
			first_attempt_at = NULL, next_attempt_at = NULL, last_reason = NULL, best_reason = NULL, verify_failures = 0, updated_at = now()
		WHERE id = ANY($%d) AND %s
		RETURNING id, media_type, cliente_id, instance_id`, len(args), cond)

	var refs []PendingDownload
	for {
		rows, _ := s.pool.Query(ctx, selectSQL, args...)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return refs, fmt.Errorf("selecting rows to reprocess: %w", err)
		}
		if len(ids) == 0 {
			return refs, nil
		}
		args[cursor] = ids
		rows, _ = s.pool.Query(ctx, updateSQL, args...)
		chunk, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PendingDownload])
		if err != nil {
			return refs, fmt.Errorf("resetting rows to pending: %w", err)
		}
		refs = append(refs, chunk...)
		if len(ids) < reprocessChunk {
			return refs, nil
		}
		args[cursor] = ids[len(ids)-1]
	}
}
