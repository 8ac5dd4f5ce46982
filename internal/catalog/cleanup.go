package catalog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/multichat/mediapipe/internal/blob"
)

// CleanupOptions selects the stored files Cleanup deletes.
type CleanupOptions struct {
	// OlderThan is required: a success row is old when its download (or,
	// lacking one, its creation) is at least this long ago.
	OlderThan time.Duration
	ClienteID int64 // 0: every cliente
	DryRun    bool  // change nothing; report what would be done
	ChunkSize int   // files per chunk (one query, one update); 0: 1000
	// Progress, when set, is called after each chunk with the old rows
	// looked at so far and their total at the start.
	Progress func(done, total int64)
}

// CleanupResult is what Cleanup did, or in a dry run would do.
type CleanupResult struct {
	Files   int64 // stored files deleted
	Bytes   int64 // their size on disk
	Missing int64 // files already missing from disk: not an error, their rows are marked too
	Rows    int64 // rows marked: file_path and file_size NULL, file_deleted_at set
	// KeptFiles are files some old row uses that are kept because a younger
	// row uses them too; KeptRows are those old rows, left unchanged.
	KeptFiles int64
	KeptRows  int64
	// Invalid counts recorded paths the file store could not have built:
	// never touched, their rows left unchanged.
	Invalid int64
	// Raced counts younger rows that started to use a file while Cleanup
	// deleted it (a duplicate download in the same instant): their file is
	// gone, so they are marked too. Included in Rows.
	Raced int64
}

const cleanupChunk = 1000

// Cleanup deletes the stored files of success rows older than
// opts.OlderThan and marks those rows. Files are content addressed and
// shared by the rows of a cliente that carry the same content, so a file is
// deleted only when every row using it is old; then all of them are marked.
// A marked row stays a success (the download did succeed and was verified),
// with file_path and file_size NULL and file_deleted_at set, so the
// statistics no longer count its bytes and the downloader never reuses it.
//
// It walks the stored files in chunks, each with its own update: a file is
// removed first and its rows are marked after, so an interrupted run leaves
// at worst rows pointing at a missing file, which the next run marks.
//
// It may run beside the downloaders. A download that deduplicates against a
// file while it is being deleted is marked with it when it recorded the file
// first (counted in Raced); one that records it a moment after the marking
// keeps a path to a missing file until a later cleanup, once the row is old
// enough, counts the file missing and marks the row.
func (s *Store) Cleanup(ctx context.Context, files blob.Store, opts CleanupOptions) (CleanupResult, error) {
	var res CleanupResult
	if opts.OlderThan <= 0 {
		return res, errors.New("cleanup: the age must be positive")
	}
	chunk := opts.ChunkSize
	if chunk <= 0 {
		chunk = cleanupChunk
	}
	// The database's clock decides, as it wrote the timestamps.
	var cutoff time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT now() - make_interval(secs => $1)`, opts.OlderThan.Seconds()).Scan(&cutoff); err != nil {
		return res, fmt.Errorf("reading the clock: %w", err)
	}
	const old = "COALESCE(download_timestamp, created_at) < $1"
	where, args := "file_path IS NOT NULL AND download_status = 'success'", []any{cutoff}
	if opts.ClienteID != 0 {
		args = append(args, opts.ClienteID)
		where += " AND cliente_id = $2"
	}
	var total int64
	if opts.Progress != nil {
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM media_files WHERE `+where+` AND `+old, args...).Scan(&total); err != nil {
			return res, fmt.Errorf("counting old stored files: %w", err)
		}
	}
	// One group per stored file that some old row uses, in index order. The
	// keyset cursor follows the groups, so marked rows (which leave the
	// index) do not shift it.
	args = append(args, int64(0), "")
	cursor := len(args) - 1
	groupSQL := fmt.Sprintf(`
		SELECT cliente_id, file_path, count(*) FILTER (WHERE %[1]s), bool_and(%[1]s)
		FROM media_files
		WHERE %[2]s AND (cliente_id, file_path) > ($%[3]d, $%[4]d)
		GROUP BY cliente_id, file_path
		HAVING bool_or(%[1]s)
		ORDER BY cliente_id, file_path
		LIMIT %[5]d`, old, where, cursor, cursor+1, chunk)

	type group struct {
		cliente  int64
		path     string
		oldRows  int64
		allOld   bool
		onDisk   bool
		diskSize int64
	}
	for {
		rows, _ := s.Pool.Query(ctx, groupSQL, args...)
		groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (group, error) {
			var g group
			err := row.Scan(&g.cliente, &g.path, &g.oldRows, &g.allOld)
			return g, err
		})
		if err != nil {
			return res, fmt.Errorf("selecting old stored files: %w", err)
		}
		if len(groups) == 0 {
			return res, nil
		}
		var (
			gone     []group // deleted or missing: their rows get marked
			firstErr error
		)
		for _, g := range groups {
			if !g.allOld {
				res.KeptFiles++
				res.KeptRows += g.oldRows
				continue
			}
			st, err := files.Stat(g.path)
			switch {
			case errors.Is(err, blob.ErrInvalidPath):
				res.Invalid++
				continue
			case errors.Is(err, fs.ErrNotExist):
				res.Missing++
			case err != nil:
				firstErr = fmt.Errorf("looking at %s: %w", g.path, err)
			default:
				g.onDisk, g.diskSize = true, st.Size
			}
			if firstErr != nil {
				break
			}
			if g.onDisk && !opts.DryRun {
				if err := files.Remove(g.path); err != nil {
					firstErr = fmt.Errorf("deleting %s: %w", g.path, err)
					break
				}
			}
			if g.onDisk {
				res.Files++
				res.Bytes += g.diskSize
			}
			if opts.DryRun {
				res.Rows += g.oldRows
			}
			gone = append(gone, g)
		}
		if !opts.DryRun && len(gone) > 0 {
			clientes, paths := make([]int64, len(gone)), make([]string, len(gone))
			for i, g := range gone {
				clientes[i], paths[i] = g.cliente, g.path
			}
			marked, raced, err := s.markFilesDeleted(ctx, cutoff, clientes, paths)
			res.Rows += marked
			res.Raced += raced
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		if firstErr != nil {
			return res, firstErr
		}
		if opts.Progress != nil {
			opts.Progress(res.Rows-res.Raced+res.KeptRows, total)
		}
		if len(groups) < chunk {
			return res, nil
		}
		last := groups[len(groups)-1]
		args[cursor-1], args[cursor] = last.cliente, last.path
	}
}

// markFilesDeleted marks every success row using one of the files (given as
// parallel slices of cliente ids and paths) and reports how many it marked
// and how many of those were not old.
func (s *Store) markFilesDeleted(ctx context.Context, cutoff time.Time, clientes []int64, paths []string) (marked, raced int64, err error) {
	rows, _ := s.Pool.Query(ctx, `
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
