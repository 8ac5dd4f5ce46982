package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// FileRef names a stored file: files are content addressed per cliente, so
// a path is unique within its cliente.
type FileRef struct {
	ClienteID int64
	Path      string
}

// OldFile is a stored file that at least one old success row uses (see
// OldFiles).
type OldFile struct {
	FileRef
	OldRows int64 // old rows using it
	AllOld  bool  // every row using it is old: the file may go
}

// OldFilesQuery selects the stored files OldFiles returns.
type OldFilesQuery struct {
	// Cutoff: a success row is old when its download (or, lacking one, its
	// creation) is before it. Take it from CleanupCutoff.
	Cutoff    time.Time
	ClienteID int64   // 0: every cliente
	After     FileRef // keyset cursor: the last file of the previous chunk, or zero
	Limit     int     // files per chunk; 0: 1000
}

const cleanupChunk = 1000

// cleanupCutoff is Operator.CleanupCutoff.
func (s *Store) cleanupCutoff(ctx context.Context, age time.Duration) (time.Time, error) {
	var cutoff time.Time
	if err := s.pool.QueryRow(ctx, `SELECT now() - make_interval(secs => $1)`, age.Seconds()).Scan(&cutoff); err != nil {
		return cutoff, fmt.Errorf("reading the clock: %w", err)
	}
	return cutoff, nil
}

// oldFilesWhere returns the condition and arguments selecting the stored
// success rows of q's cliente; $1 is the cutoff.
func oldFilesWhere(q OldFilesQuery) (where string, args []any) {
	where, args = "file_path IS NOT NULL AND download_status = 'success'", []any{q.Cutoff}
	if q.ClienteID != 0 {
		args = append(args, q.ClienteID)
		where += " AND cliente_id = $2"
	}
	return where, args
}

const oldRow = "COALESCE(download_timestamp, created_at) < $1"

// countOldFiles is Operator.CountOldFiles.
func (s *Store) countOldFiles(ctx context.Context, q OldFilesQuery) (int64, error) {
	where, args := oldFilesWhere(q)
	var total int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM media_files WHERE `+where+` AND `+oldRow, args...).Scan(&total); err != nil {
		return 0, fmt.Errorf("counting old stored files: %w", err)
	}
	return total, nil
}

// oldFiles is Operator.OldFiles.
func (s *Store) oldFiles(ctx context.Context, q OldFilesQuery) ([]OldFile, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = cleanupChunk
	}
	where, args := oldFilesWhere(q)
	args = append(args, q.After.ClienteID, q.After.Path)
	cursor := len(args) - 1
	groupSQL := fmt.Sprintf(`
		SELECT cliente_id, file_path, count(*) FILTER (WHERE %[1]s), bool_and(%[1]s)
		FROM media_files
		WHERE %[2]s AND (cliente_id, file_path) > ($%[3]d, $%[4]d)
		GROUP BY cliente_id, file_path
		HAVING bool_or(%[1]s)
		ORDER BY cliente_id, file_path
		LIMIT %[5]d`, oldRow, where, cursor, cursor+1, limit)
	rows, _ := s.pool.Query(ctx, groupSQL, args...)
	files, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OldFile, error) {
		var f OldFile
		err := row.Scan(&f.ClienteID, &f.Path, &f.OldRows, &f.AllOld)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("selecting old stored files: %w", err)
	}
	return files, nil
}

// markFiles is Operator.MarkFilesDeleted.
func (s *Store) markFiles(ctx context.Context, cutoff time.Time, files []FileRef) (marked, raced int64, err error) {
	if len(files) == 0 {
		return 0, 0, nil
	}
	clientes, paths := make([]int64, len(files)), make([]string, len(files))
	for i, f := range files {
		clientes[i], paths[i] = f.ClienteID, f.Path
	}
	return s.markFilesDeleted(ctx, cutoff, clientes, paths)
}

// markFilesDeleted marks every success row using one of the files (given as
// parallel slices of cliente ids and paths) and reports how many it marked
// and how many of those were not old.
func (s *Store) markFilesDeleted(ctx context.Context, cutoff time.Time, clientes []int64, paths []string) (marked, raced int64, err error) {
	rows, _ := s.pool.Query(ctx, `
		UPDATE media_files
		SET file_path = NULL, file_size = NULL, file_deleted_at = now(), updated_at = now()
		WHERE (cliente_id, file_path) IN (SELECT * FROM unnest($2::bigint[], $3::text[]))
			AND download_status = 'success'
		RETURNING COALESCE(download_timestamp, created_at) >= $1`, cutoff, clientes, paths)
	var young bool
	_, err = pgx.ForEachRow(rows, []any{&young}, func() error {
		marked++
		if young {
			raced++
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("marking rows of deleted files: %w", err)
	}
	return marked, raced, nil
}
