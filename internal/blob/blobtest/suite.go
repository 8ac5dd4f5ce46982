// Package blobtest holds the conformance suite that every blob.Store backend
// must pass (local disk today, S3 later).
package blobtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
)

// StoreSuite runs the conformance tests against stores made by newStore,
// which gives each subtest a fresh, empty store.
func StoreSuite(t *testing.T, newStore func(t *testing.T) blob.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"CommitAndRead", testCommitAndRead},
		{"Deduplicates", testDeduplicates},
		{"PerCliente", testPerCliente},
		{"Abort", testAbort},
		{"NothingVisibleBeforeCommit", testNothingVisibleBeforeCommit},
		{"ExtensionSanitized", testExtensionSanitized},
		{"ConcurrentCommitsOfSameContent", testConcurrentCommits},
		{"RefusesBadPaths", testRefusesBadPaths},
		{"Remove", testRemove},
		{"BadCommits", testBadCommits},
		{"CleanTempKeepsFreshFiles", testCleanTempKeepsFresh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// Content returns n random bytes and their SHA-256.
func Content(t *testing.T, n int) ([]byte, []byte) {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return b, sum[:]
}

// Put stores data for the cliente in chunks and commits it.
func Put(t *testing.T, s blob.Store, cliente int64, data, sum []byte, ext string) blob.Stored {
	t.Helper()
	p, err := s.Create(cliente)
	require.NoError(t, err)
	for chunk := range slices(data, 4096) {
		n, err := p.Write(chunk)
		require.NoError(t, err)
		require.Equal(t, len(chunk), n)
	}
	require.EqualValues(t, len(data), p.Size())
	st, err := p.Commit(sum, ext)
	require.NoError(t, err)
	return st
}

func slices(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// ReadAll reads a stored file.
func ReadAll(t *testing.T, s blob.Store, rel string) []byte {
	t.Helper()
	f, err := s.Open(rel)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func testCommitAndRead(t *testing.T, s blob.Store) {
	data, sum := Content(t, 100_000)
	before := time.Now().Add(-time.Minute)
	st := Put(t, s, 42, data, sum, ".jpg")

	h := hex.EncodeToString(sum)
	require.Equal(t, "42/"+h[:2]+"/"+h[2:4]+"/"+h+".jpg", st.Path)
	want, err := blob.Key(42, sum, ".jpg")
	require.NoError(t, err)
	require.Equal(t, want, st.Path)
	require.EqualValues(t, len(data), st.Size)
	require.False(t, st.Deduplicated)
	require.True(t, s.Exists(st.Path))
	require.Equal(t, data, ReadAll(t, s, st.Path))

	info, err := s.Stat(st.Path)
	require.NoError(t, err)
	require.Equal(t, st.Path, info.Path)
	require.EqualValues(t, len(data), info.Size)
	require.True(t, info.ModTime.After(before))

	f, err := s.Open(st.Path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Seek(-10, io.SeekEnd)
	require.NoError(t, err)
	tail, err := io.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, data[len(data)-10:], tail)

	// An empty file is a file too.
	empty := sha256.Sum256(nil)
	st = Put(t, s, 42, nil, empty[:], ".txt")
	require.Zero(t, st.Size)
	require.Empty(t, ReadAll(t, s, st.Path))
}

func testDeduplicates(t *testing.T, s blob.Store) {
	data, sum := Content(t, 10_000)
	first := Put(t, s, 7, data, sum, ".ogg")
	second := Put(t, s, 7, data, sum, ".ogg")
	require.Equal(t, first.Path, second.Path)
	require.True(t, second.Deduplicated)
	require.EqualValues(t, len(data), second.Size)
	require.Equal(t, data, ReadAll(t, s, first.Path))
}

func testPerCliente(t *testing.T, s blob.Store) {
	data, sum := Content(t, 1000)
	a := Put(t, s, 1, data, sum, ".pdf")
	b := Put(t, s, 2, data, sum, ".pdf")
	require.NotEqual(t, a.Path, b.Path)
	require.False(t, b.Deduplicated, "content is shared within a cliente only")
	require.NoError(t, s.Remove(a.Path))
	require.Equal(t, data, ReadAll(t, s, b.Path))
}

func testAbort(t *testing.T, s blob.Store) {
	data, sum := Content(t, 5000)
	p, err := s.Create(3)
	require.NoError(t, err)
	_, err = p.Write(data)
	require.NoError(t, err)
	require.NoError(t, p.Abort())
	require.NoError(t, p.Abort(), "Abort is idempotent")

	_, err = p.Write(data)
	require.ErrorIs(t, err, blob.ErrClosed)
	_, err = p.Commit(sum, ".bin")
	require.ErrorIs(t, err, blob.ErrClosed)
	rel, err := blob.Key(3, sum, ".bin")
	require.NoError(t, err)
	require.False(t, s.Exists(rel))
}

func testNothingVisibleBeforeCommit(t *testing.T, s blob.Store) {
	data, sum := Content(t, 64<<10)
	rel, err := blob.Key(5, sum, ".mp4")
	require.NoError(t, err)
	p, err := s.Create(5)
	require.NoError(t, err)
	for chunk := range slices(data, 8<<10) {
		_, err := p.Write(chunk)
		require.NoError(t, err)
		require.False(t, s.Exists(rel))
		_, err = s.Open(rel)
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = s.Stat(rel)
		require.ErrorIs(t, err, fs.ErrNotExist)
	}
	st, err := p.Commit(sum, ".mp4")
	require.NoError(t, err)
	require.Equal(t, rel, st.Path)
	require.Equal(t, data, ReadAll(t, s, rel))
}

func testExtensionSanitized(t *testing.T, s blob.Store) {
	for ext, want := range map[string]string{
		".jpg":             ".jpg",
		".JPG":             ".jpg",
		"png":              ".png",
		".webp":            ".webp",
		".12345678":        ".12345678",
		".123456789":       ".bin",
		"":                 ".bin",
		".":                ".bin",
		"../../etc/passwd": ".bin",
		".exe/../x":        ".bin",
		".ph p":            ".bin",
		".tar.gz":          ".bin",
		".j\x00g":          ".bin",
		".jpé":             ".bin",
	} {
		require.Equal(t, want, blob.SanitizeExt(ext), "%q", ext)
		data, sum := Content(t, 10)
		st := Put(t, s, 9, data, sum, ext)
		require.Equal(t, want, st.Path[len(st.Path)-len(want):], "%q", ext)
		require.NoError(t, blob.CheckPath(st.Path))
	}
}

func testConcurrentCommits(t *testing.T, s blob.Store) {
	data, sum := Content(t, 256<<10)
	const n = 8
	var wg sync.WaitGroup
	paths := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p, err := s.Create(11)
			if err != nil {
				errs[i] = err
				return
			}
			for chunk := range slices(data, 16<<10) {
				if _, err := p.Write(chunk); err != nil {
					errs[i] = err
					return
				}
			}
			st, err := p.Commit(sum, ".mov")
			paths[i], errs[i] = st.Path, err
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for _, p := range paths {
		require.Equal(t, paths[0], p)
	}
	require.Equal(t, data, ReadAll(t, s, paths[0]))
}

func testRefusesBadPaths(t *testing.T, s blob.Store) {
	data, sum := Content(t, 10)
	st := Put(t, s, 1, data, sum, ".jpg")
	h := hex.EncodeToString(sum)
	for _, rel := range []string{
		"",
		"/etc/passwd",
		"../" + st.Path,
		"1/../" + st.Path,
		"/" + st.Path,
		"./" + st.Path,
		"1/" + h[:2] + "/" + h[2:4] + "/" + h, // no extension
		"1/" + h[:2] + "/" + h[2:4] + "/" + h + ".JPG",  // not as built
		"1/00/00/" + h + ".jpg",                         // fan-out disagrees with digest
		"0/" + h[:2] + "/" + h[2:4] + "/" + h + ".jpg",  // no cliente 0
		"01/" + h[:2] + "/" + h[2:4] + "/" + h + ".jpg", // not as built
		"1\\" + h[:2] + "\\" + h[2:4] + "\\" + h + ".jpg",
		"1/.tmp/x.part",
	} {
		require.False(t, s.Exists(rel), "%q", rel)
		_, err := s.Open(rel)
		require.ErrorIs(t, err, blob.ErrInvalidPath, "%q", rel)
		_, err = s.Stat(rel)
		require.ErrorIs(t, err, blob.ErrInvalidPath, "%q", rel)
		require.ErrorIs(t, s.Remove(rel), blob.ErrInvalidPath, "%q", rel)
	}
	require.True(t, s.Exists(st.Path))
}

func testRemove(t *testing.T, s blob.Store) {
	data, sum := Content(t, 1000)
	st := Put(t, s, 4, data, sum, ".pdf")
	require.NoError(t, s.Remove(st.Path))
	require.False(t, s.Exists(st.Path))
	_, err := s.Open(st.Path)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, s.Remove(st.Path), "removing a missing file is fine")

	again := Put(t, s, 4, data, sum, ".pdf")
	require.False(t, again.Deduplicated)
	require.Equal(t, data, ReadAll(t, s, again.Path))
}

func testBadCommits(t *testing.T, s blob.Store) {
	for _, id := range []int64{0, -1} {
		_, err := s.Create(id)
		require.ErrorIs(t, err, blob.ErrInvalidPath)
	}
	p, err := s.Create(6)
	require.NoError(t, err)
	_, err = p.Write([]byte("abc"))
	require.NoError(t, err)
	_, err = p.Commit(bytes.Repeat([]byte{1}, 31), ".jpg")
	require.ErrorIs(t, err, blob.ErrInvalidPath)
	_, err = p.Commit(bytes.Repeat([]byte{1}, 32), ".jpg")
	require.ErrorIs(t, err, blob.ErrClosed, "a failed commit closes the file")

	data, sum := Content(t, 10)
	p, err = s.Create(6)
	require.NoError(t, err)
	_, err = p.Write(data)
	require.NoError(t, err)
	_, err = p.Commit(sum, ".jpg")
	require.NoError(t, err)
	_, err = p.Commit(sum, ".jpg")
	require.ErrorIs(t, err, blob.ErrClosed)
	require.NoError(t, p.Abort(), "Abort after Commit is a no-op")
	require.True(t, s.Exists(mustKey(t, 6, sum, ".jpg")))
}

func testCleanTempKeepsFresh(t *testing.T, s blob.Store) {
	data, sum := Content(t, 1000)
	p, err := s.Create(8)
	require.NoError(t, err)
	_, err = p.Write(data)
	require.NoError(t, err)
	n, err := s.CleanTemp(time.Hour)
	require.NoError(t, err)
	require.Zero(t, n)
	st, err := p.Commit(sum, ".jpg")
	require.NoError(t, err)
	require.Equal(t, data, ReadAll(t, s, st.Path))
}

func mustKey(t *testing.T, cliente int64, sum []byte, ext string) string {
	t.Helper()
	k, err := blob.Key(cliente, sum, ext)
	require.NoError(t, err)
	return k
}
