package catalog_test

import (
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/housekeeping"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// storeFile writes content into the file store for cliente and returns it.
func storeFile(t *testing.T, files blob.Store, cliente int64, content string) catalog.Stored {
	t.Helper()
	p, err := files.Create(cliente)
	require.NoError(t, err)
	_, err = p.Write([]byte(content))
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(content))
	st, err := p.Commit(sum[:], ".jpg")
	require.NoError(t, err)
	return catalog.Stored{Path: st.Path, Size: st.Size, Mimetype: "image/jpeg", SHA256: sum[:]}
}

// succeeded records one image row of instance that downloaded st age ago.
func (b *testBundle) succeeded(t *testing.T, instance string, st catalog.Stored, age time.Duration) int64 {
	t.Helper()
	m := b.message(descriptor(wamedia.Image))
	m.InstanceID = instance
	rec := b.record(t, m)
	id := rec[0].MediaID
	require.NoError(t, b.store.Succeed(b.ctx, id, st))
	_, err := pgtest.DB(t, b.store).Exec(b.ctx,
		`UPDATE media_files SET download_timestamp = now() - make_interval(secs => $2) WHERE id = $1`, id, age.Seconds())
	require.NoError(t, err)
	return id
}

type fileRow struct {
	Path      *string
	Size      *int64
	DeletedAt *time.Time
}

func (b *testBundle) fileRow(t *testing.T, id int64) fileRow {
	t.Helper()
	var r fileRow
	var status string
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx,
		`SELECT file_path, file_size, file_deleted_at, download_status FROM media_files WHERE id = $1`, id).Scan(&r.Path, &r.Size, &r.DeletedAt, &status))
	require.Equal(t, catalog.StatusSuccess, status, "a cleaned row stays a success")
	return r
}

func TestCleanup(t *testing.T) {
	b := setup(t)
	files, err := blob.NewLocal(filepath.Join(t.TempDir(), "media"))
	require.NoError(t, err)
	other, err := b.op.Register(b.ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	const month, day = 30 * 24 * time.Hour, 24 * time.Hour

	shared := storeFile(t, files, b.clienteID, "forwarded twice, both old")
	a1 := b.succeeded(t, b.instance, shared, 40*day)
	a2 := b.succeeded(t, b.instance, shared, 35*day)
	inUse := storeFile(t, files, b.clienteID, "old and young rows")
	kept := b.succeeded(t, b.instance, inUse, 40*day)
	young := b.succeeded(t, b.instance, inUse, day)
	gone := storeFile(t, files, b.clienteID, "already deleted by hand")
	missing := b.succeeded(t, b.instance, gone, 50*day)
	require.NoError(t, files.Remove(gone.Path))
	fresh := storeFile(t, files, b.clienteID, "fresh")
	recent := b.succeeded(t, b.instance, fresh, time.Hour)
	theirs := storeFile(t, files, other.ClienteID, "globex's old file")
	globex := b.succeeded(t, other.InstanceID, theirs, 60*day)
	pending := b.recordOne(t, descriptor(wamedia.Video)) // no file: never looked at
	_, err = pgtest.DB(t, b.store).Exec(b.ctx, `UPDATE media_files SET created_at = now() - interval '90 days' WHERE id = $1`, pending)
	require.NoError(t, err)

	before, err := b.op.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)

	// A dry run reports and changes nothing.
	dry, err := housekeeping.Cleanup(b.ctx, b.op, files, housekeeping.CleanupOptions{OlderThan: month, ClienteID: b.clienteID, DryRun: true})
	require.NoError(t, err)
	want := housekeeping.CleanupResult{Files: 1, Bytes: shared.Size, Missing: 1, Rows: 3, KeptFiles: 1, KeptRows: 1}
	require.Equal(t, want, dry)
	require.True(t, files.Exists(shared.Path))
	for _, id := range []int64{a1, a2, missing} {
		require.Nil(t, b.fileRow(t, id).DeletedAt)
	}
	after, err := b.op.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.Equal(t, before, after)

	// The real run, one file per chunk, for acme only.
	var progress []int64
	res, err := housekeeping.Cleanup(b.ctx, b.op, files, housekeeping.CleanupOptions{
		OlderThan: month, ClienteID: b.clienteID, ChunkSize: 1,
		Progress: func(done, total int64) { require.EqualValues(t, 4, total); progress = append(progress, done) },
	})
	require.NoError(t, err)
	require.Equal(t, want, res)
	require.NotEmpty(t, progress)
	require.EqualValues(t, 4, progress[len(progress)-1])

	require.False(t, files.Exists(shared.Path))
	require.True(t, files.Exists(inUse.Path), "a file a younger row uses is kept")
	require.True(t, files.Exists(fresh.Path))
	require.True(t, files.Exists(theirs.Path), "another cliente's file is not touched")
	for _, id := range []int64{a1, a2, missing} {
		r := b.fileRow(t, id)
		require.Nil(t, r.Path)
		require.Nil(t, r.Size)
		require.NotNil(t, r.DeletedAt)
	}
	for id, st := range map[int64]catalog.Stored{kept: inUse, young: inUse, recent: fresh, globex: theirs} {
		r := b.fileRow(t, id)
		require.Equal(t, st.Path, *r.Path)
		require.Nil(t, r.DeletedAt)
	}

	// Statistics no longer count the deleted files, and the downloader no
	// longer finds them for deduplication.
	after, err = b.op.Stats(b.ctx, b.clienteID)
	require.NoError(t, err)
	require.Equal(t, before.Total, after.Total)
	require.Equal(t, before.BytesStored-2*shared.Size-gone.Size, after.BytesStored)
	require.Equal(t, before.DiskBytes-shared.Size-gone.Size, after.DiskBytes)
	_, found, err := b.store.FindStored(b.ctx, b.clienteID, wamedia.Image, shared.SHA256)
	require.NoError(t, err)
	require.False(t, found)

	// Running again finds only the kept file; every cliente's turn takes
	// globex's old file.
	again, err := housekeeping.Cleanup(b.ctx, b.op, files, housekeeping.CleanupOptions{OlderThan: month, ClienteID: b.clienteID})
	require.NoError(t, err)
	require.Equal(t, housekeeping.CleanupResult{KeptFiles: 1, KeptRows: 1}, again)
	all, err := housekeeping.Cleanup(b.ctx, b.op, files, housekeeping.CleanupOptions{OlderThan: month})
	require.NoError(t, err)
	require.Equal(t, housekeeping.CleanupResult{Files: 1, Bytes: theirs.Size, Rows: 1, KeptFiles: 1, KeptRows: 1}, all)
	require.False(t, files.Exists(theirs.Path))

	_, err = housekeeping.Cleanup(b.ctx, b.op, files, housekeeping.CleanupOptions{})
	require.Error(t, err, "an age is required")
}
