// Package housekeeping deletes stored files that the catalogue no longer
// needs: old downloads (Cleanup) and the files of removed instances and
// clientes (RemoveInstance, RemoveCliente). The catalogue says which files
// may go and records that they went; this package deletes them from the
// file store in between, so that the SQL package never touches files.
package housekeeping

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
)

// Files is what housekeeping needs of the file store.
type Files interface {
	Stat(relPath string) (blob.Stored, error)
	Remove(relPath string) error
}

// Catalog is what housekeeping needs of the catalogue; a *catalog.Operator
// (internal/catalog/operator) has it.
type Catalog interface {
	CleanupCutoff(ctx context.Context, age time.Duration) (time.Time, error)
	CountOldFiles(ctx context.Context, q catalog.OldFilesQuery) (int64, error)
	OldFiles(ctx context.Context, q catalog.OldFilesQuery) ([]catalog.OldFile, error)
	MarkFilesDeleted(ctx context.Context, cutoff time.Time, files []catalog.FileRef) (marked, raced int64, err error)
	RemoveInstance(ctx context.Context, instanceID string, withMedia bool) (catalog.Removal, []string, error)
	RemoveCliente(ctx context.Context, clienteName string, withMedia bool) (catalog.Removal, []string, error)
}

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
func Cleanup(ctx context.Context, cat Catalog, files Files, opts CleanupOptions) (CleanupResult, error) {
	var res CleanupResult
	if opts.OlderThan <= 0 {
		return res, errors.New("cleanup: the age must be positive")
	}
	cutoff, err := cat.CleanupCutoff(ctx, opts.OlderThan)
	if err != nil {
		return res, err
	}
	q := catalog.OldFilesQuery{Cutoff: cutoff, ClienteID: opts.ClienteID, Limit: opts.ChunkSize}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var total int64
	if opts.Progress != nil {
		if total, err = cat.CountOldFiles(ctx, q); err != nil {
			return res, err
		}
	}
	for {
		chunk, err := cat.OldFiles(ctx, q)
		if err != nil {
			return res, err
		}
		if len(chunk) == 0 {
			return res, nil
		}
		var (
			gone     []catalog.FileRef // deleted or missing: their rows get marked
			firstErr error
		)
		for _, f := range chunk {
			if !f.AllOld {
				res.KeptFiles++
				res.KeptRows += f.OldRows
				continue
			}
			st, err := files.Stat(f.Path)
			onDisk := false
			switch {
			case errors.Is(err, blob.ErrInvalidPath):
				res.Invalid++
				continue
			case errors.Is(err, fs.ErrNotExist):
				res.Missing++
			case err != nil:
				firstErr = fmt.Errorf("looking at %s: %w", f.Path, err)
			default:
				onDisk = true
			}
			if firstErr != nil {
				break
			}
			if onDisk && !opts.DryRun {
				if err := files.Remove(f.Path); err != nil {
					firstErr = fmt.Errorf("deleting %s: %w", f.Path, err)
					break
				}
			}
			if onDisk {
				res.Files++
				res.Bytes += st.Size
			}
			if opts.DryRun {
				res.Rows += f.OldRows
			}
			gone = append(gone, f.FileRef)
		}
		if !opts.DryRun && len(gone) > 0 {
			marked, raced, err := cat.MarkFilesDeleted(ctx, cutoff, gone)
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
		if len(chunk) < q.Limit {
			return res, nil
		}
		q.After = chunk[len(chunk)-1].FileRef
	}
}

// Removal is what RemoveInstance or RemoveCliente did: to the rows (the
// catalogue's part) and to the stored files.
type Removal struct {
	catalog.Removal
	Files   int64 // stored files deleted
	Bytes   int64 // their size on disk
	Missing int64 // files of deleted rows already missing from disk
	// Raced counts rows of another instance of the cliente that recorded a
	// deleted file while it was being deleted (a download of the same
	// content in that instant): their file is gone, so they are marked as
	// cleanup marks them (file_path NULL, file_deleted_at set).
	Raced int64
	// Undeleted lists stored files that could not be deleted (their rows
	// are gone): delete them by hand. The error says why.
	Undeleted []string
}

// RemoveInstance removes an instance, its chats and, with withMedia, its
// media rows and the stored files no other row uses (see
// catalog.Operator.RemoveInstance for what is refused).
func RemoveInstance(ctx context.Context, cat Catalog, files Files, instanceID string, withMedia bool) (Removal, error) {
	r, orphans, err := cat.RemoveInstance(ctx, instanceID, withMedia)
	return removeFiles(ctx, cat, files, Removal{Removal: r}, orphans, err)
}

// RemoveCliente removes a cliente with every instance, chat and, with
// withMedia, every media row and stored file of it (see
// catalog.Operator.RemoveCliente for what is refused).
func RemoveCliente(ctx context.Context, cat Catalog, files Files, clienteName string, withMedia bool) (Removal, error) {
	r, orphans, err := cat.RemoveCliente(ctx, clienteName, withMedia)
	return removeFiles(ctx, cat, files, Removal{Removal: r}, orphans, err)
}

// removeFiles deletes the stored files of removed rows that no other row
// used (paths), after the rows' transaction committed, then marks rows that
// recorded one of them meanwhile.
func removeFiles(ctx context.Context, cat Catalog, files Files, r Removal, paths []string, err error) (Removal, error) {
	if err != nil || len(paths) == 0 {
		return r, err
	}
	var (
		firstErr error
		deleted  []catalog.FileRef
	)
	for _, p := range paths {
		st, err := files.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, blob.ErrInvalidPath):
			// A path the file store could not have built names no file.
			r.Missing++
			continue
		case err == nil:
			err = files.Remove(p)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("deleting stored file %s: %w", p, err)
			}
			r.Undeleted = append(r.Undeleted, p)
			continue
		}
		r.Files++
		r.Bytes += st.Size
		deleted = append(deleted, catalog.FileRef{ClienteID: r.ClienteID, Path: p})
	}
	if len(deleted) > 0 && !r.ClienteRemoved {
		// Every row marked here raced: the zero cutoff counts them all.
		_, raced, err := cat.MarkFilesDeleted(ctx, time.Time{}, deleted)
		r.Raced = raced
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil && len(r.Undeleted) > 0 {
		return r, fmt.Errorf("%d stored file(s) could not be deleted (their rows are gone): %w", len(r.Undeleted), firstErr)
	}
	return r, firstErr
}
