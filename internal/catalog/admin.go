package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// The admin page's queries: unlike ListMedia and MediaByID, they see every
// cliente's rows. Only the operators' admin page may call them.

// ErrNotReprocessable is returned by ResetMediaForReprocess for a row that a
// reprocess cannot help: a success, or a failure for missing fields.
var ErrNotReprocessable = errors.New("media row cannot be reprocessed")

// Cliente is a cliente as the admin page lists it.
type Cliente struct {
	ID        int64
	Name      string
	Instances int
	CreatedAt time.Time
}

// clientes is Operator.Clientes.
func (s *Store) clientes(ctx context.Context) ([]Cliente, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT c.id, c.name, (SELECT count(*) FROM instances i WHERE i.cliente_id = c.id)::int, c.created_at
		FROM clientes c ORDER BY c.name, c.id`)
	cs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Cliente])
	if err != nil {
		return nil, fmt.Errorf("listing clientes: %w", err)
	}
	return cs, nil
}

// AdminMediaFilter selects media of any cliente for AdminListMedia. Zero
// fields do not filter.
type AdminMediaFilter struct {
	ClienteID  int64
	InstanceID string
	// Chat matches a chat by remote id or normalized JID and, when it is
	// all digits, by the chat's id too.
	Chat   string
	Type   wamedia.MediaType
	Status string
	Reason string // failure reason
	// Provider keeps the rows of instances of that provider (wapi,
	// evolution, waha, zapi, meta).
	Provider string
	// Since <= created_at < Until.
	Since, Until time.Time
	// Before is the Next of the previous page: only rows with a smaller id.
	Before int64
	Limit  int // 1 to MaxMediaLimit; 0: DefaultMediaLimit
}

// AdminMediaPage is one page of AdminListMedia. Next is the Before of the
// following page, 0 when this page is the last.
type AdminMediaPage struct {
	Items []Media
	Next  int64
}

// adminListMedia is Operator.AdminListMedia.
func (s *Store) adminListMedia(ctx context.Context, f AdminMediaFilter) (AdminMediaPage, error) {
	if err := f.check(); err != nil {
		return AdminMediaPage{}, err
	}
	items, more, err := s.listMedia(ctx, adminMediaFilter(f), "m.id DESC", f.Limit)
	if err != nil {
		return AdminMediaPage{}, err
	}
	page := AdminMediaPage{Items: items}
	if more {
		page.Next = items[len(items)-1].ID
	}
	return page, nil
}

// check reports every value of f that AdminListMedia refuses.
func (f AdminMediaFilter) check() error {
	var e FilterError
	MediaFilter{
		InstanceID: f.InstanceID, Chat: f.Chat, Type: f.Type, Status: f.Status,
		Since: f.Since, Until: f.Until, Limit: f.Limit,
	}.problems(&e)
	if f.ClienteID < 0 {
		e.add("cliente", fmt.Sprintf("cliente %d: want a cliente id", f.ClienteID))
	}
	if f.Before < 0 {
		e.add("before", fmt.Sprintf("before %d: want a media id", f.Before))
	}
	if !validReason(f.Reason) {
		e.add("reason", fmt.Sprintf("reason %q: want a failure reason such as mac_mismatch", f.Reason))
	}
	return e.err()
}

// validReason accepts the shape of a failure reason: up to 64 lowercase
// letters, digits and underscores (empty: no filter).
func validReason(r string) bool {
	if len(r) > 64 {
		return false
	}
	for _, c := range []byte(r) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// adminMediaByID is Operator.AdminMediaByID.
func (s *Store) adminMediaByID(ctx context.Context, id int64) (Media, error) {
	m, err := scanMedia(s.pool.QueryRow(ctx, mediaSelectSQL+"\nWHERE m.id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Media{}, ErrNotFound
	}
	if err != nil {
		return Media{}, fmt.Errorf("reading media row %d: %w", id, err)
	}
	return m, nil
}

// adminMediaThumbnail is Operator.AdminMediaThumbnail.
func (s *Store) adminMediaThumbnail(ctx context.Context, id int64) ([]byte, error) {
	var thumb []byte
	err := s.pool.QueryRow(ctx, `
		SELECT jpeg_thumbnail FROM media_files
		WHERE id = $1 AND octet_length(jpeg_thumbnail) > 0`, id).Scan(&thumb)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading thumbnail of media row %d: %w", id, err)
	}
	return thumb, nil
}

// DayCount is the number of media rows recorded on one UTC day.
type DayCount struct {
	Day   time.Time // midnight UTC
	Count int64
}

// mediaPerDay is Operator.MediaPerDay.
func (s *Store) mediaPerDay(ctx context.Context, clienteID int64, since time.Time) ([]DayCount, error) {
	since = since.UTC().Truncate(24 * time.Hour)
	// One index range scan per cliente (media_files_cliente_created_idx)
	// instead of a scan of the whole table.
	rows, _ := s.pool.Query(ctx, `
		SELECT d.day, count(m.day)
		FROM generate_series($1::timestamptz AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', interval '1 day') AS d(day)
		LEFT JOIN (
			SELECT date_trunc('day', mf.created_at AT TIME ZONE 'UTC') AS day
			FROM clientes c CROSS JOIN LATERAL (
				SELECT created_at FROM media_files
				WHERE cliente_id = c.id AND created_at >= $1
			) mf
			WHERE $2::bigint = 0 OR c.id = $2::bigint
		) m ON m.day = d.day
		GROUP BY d.day ORDER BY d.day`, since, clienteID)
	var out []DayCount
	var (
		day time.Time
		n   int64
	)
	_, err := pgx.ForEachRow(rows, []any{&day, &n}, func() error {
		out = append(out, DayCount{Day: time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC), Count: n})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting media per day: %w", err)
	}
	return out, nil
}

// ResetMediaForReprocess sets media row id back to pending and clears its
// failure reason and retry state, for its download job to be published again, as
// ResetForReprocess does for many rows. A success, or a failure for missing
// fields, is left alone with ErrNotReprocessable; an unknown id gives
// ErrNotFound.
func (s *Store) ResetMediaForReprocess(ctx context.Context, id int64) (PendingDownload, error) {
	var ref PendingDownload
	err := s.pool.QueryRow(ctx, `
		UPDATE media_files SET download_status = 'pending', failure_reason = NULL,
			first_attempt_at = NULL, next_attempt_at = NULL, last_reason = NULL, best_reason = NULL, verify_failures = 0, updated_at = now()
		WHERE id = $1 AND download_status <> 'success' AND failure_reason IS DISTINCT FROM 'missing_fields'
		RETURNING id, media_type, cliente_id, instance_id`, id).Scan(&ref.ID, &ref.Type, &ref.ClienteID, &ref.InstanceID)
	if err == nil {
		return ref, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return PendingDownload{}, fmt.Errorf("resetting media row %d to pending: %w", id, err)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM media_files WHERE id = $1)`, id).Scan(&exists); err != nil {
		return PendingDownload{}, fmt.Errorf("reading media row %d: %w", id, err)
	}
	if !exists {
		return PendingDownload{}, ErrNotFound
	}
	return PendingDownload{}, ErrNotReprocessable
}
