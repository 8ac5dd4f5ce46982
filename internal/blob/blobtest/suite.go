// Package blobtest holds the conformance suite that every blob.Store backend
// must pass (Local and S3).
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
)

// StoreSuite runs the conformance tests against stores made by newStore,
// which gives each subtest a fresh, empty store. The stores must list what
// writers left behind (Leftovers, as Local and S3 do).
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
		{"FailedVerificationLeavesNothing", testFailedVerification},
		{"ConcurrentWritersOfLargeContent", testConcurrentLarge},
		{"KilledWriterLeavesNothing", testKilledWriter},
		{"LargeRoundTrip", testLargeRoundTrip},
		{"OpenSeekRange", testOpenSeekRange},
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

// Leftovers is a store that lists what writers left behind: temporary files,
// multipart uploads in progress.
type Leftovers interface {
	Leftovers() ([]string, error)
}

// RequireNoLeftovers fails unless the store has nothing left behind by
// writers, polling a little for aborts that run in the background.
func RequireNoLeftovers(t *testing.T, s blob.Store) {
	t.Helper()
	l, ok := s.(Leftovers)
	require.True(t, ok, "%T lists no leftovers", s)
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		left, err = l.Leftovers()
		require.NoError(t, err)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Empty(t, left, "left behind by writers")
}

// Large is the size of the content of the large tests: several multipart
// parts of 5 MiB (DefaultPartSize).
const Large = 40 << 20

// write writes data to p in chunks of n bytes.
func write(t *testing.T, p *blob.Pending, data []byte, n int) {
	t.Helper()
	for chunk := range slices(data, n) {
		_, err := p.Write(chunk)
		require.NoError(t, err)
	}
}

func testFailedVerification(t *testing.T, s blob.Store) {
	data, sum := Content(t, 12<<20) // more than one part
	other := sha256.Sum256([]byte("something else"))
	for _, tc := range []struct {
		name   string
		expect bool
		finish func(p *blob.Pending) error
	}{
		{"abort after Expect", true, func(p *blob.Pending) error { return p.Abort() }},
		{"abort without Expect", false, func(p *blob.Pending) error { return p.Abort() }},
		{"commit under another digest", true, func(p *blob.Pending) error {
			_, err := p.Commit(other[:], ".mp4")
			require.ErrorIs(t, err, blob.ErrMismatch)
			return nil
		}},
		{"commit under another extension", true, func(p *blob.Pending) error {
			_, err := p.Commit(sum, ".jpg")
			require.ErrorIs(t, err, blob.ErrMismatch)
			return nil
		}},
	} {
		p, err := s.Create(21)
		require.NoError(t, err)
		if tc.expect {
			require.NoError(t, p.Expect(sum, ".mp4"))
		}
		write(t, p, data, 64<<10)
		require.NoError(t, tc.finish(p), tc.name)
		_, err = p.Commit(sum, ".mp4")
		require.ErrorIs(t, err, blob.ErrClosed, tc.name)
		for _, rel := range []string{mustKey(t, 21, sum, ".mp4"), mustKey(t, 21, sum, ".jpg"), mustKey(t, 21, other[:], ".mp4")} {
			require.False(t, s.Exists(rel), "%s: %s", tc.name, rel)
		}
		RequireNoLeftovers(t, s)
	}

	// A small file too, and Expect's own checks.
	small, smallSum := Content(t, 1000)
	p, err := s.Create(21)
	require.NoError(t, err)
	require.ErrorIs(t, p.Expect(smallSum[:31], ".jpg"), blob.ErrInvalidPath)
	require.NoError(t, p.Expect(smallSum, ".JPG"))
	require.Error(t, p.Expect(smallSum, ".jpg"), "Expect once")
	write(t, p, small, 100)
	_, err = p.Commit(other[:], ".jpg")
	require.ErrorIs(t, err, blob.ErrMismatch)
	require.False(t, s.Exists(mustKey(t, 21, smallSum, ".jpg")))
	RequireNoLeftovers(t, s)

	// The announced content commits.
	p, err = s.Create(21)
	require.NoError(t, err)
	require.NoError(t, p.Expect(smallSum, "jpg"))
	write(t, p, small, 100)
	st, err := p.Commit(smallSum, ".jpg")
	require.NoError(t, err)
	require.Equal(t, small, ReadAll(t, s, st.Path))
}

func testConcurrentLarge(t *testing.T, s blob.Store) {
	data, sum := Content(t, 3*(8<<20)+12345)
	const n = 4
	var wg sync.WaitGroup
	results := make([]blob.Stored, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p, err := s.Create(22)
			if err != nil {
				errs[i] = err
				return
			}
			if i%2 == 0 { // half announce the content, half do not
				if errs[i] = p.Expect(sum, ".mp4"); errs[i] != nil {
					return
				}
			}
			for chunk := range slices(data, 256<<10) {
				if _, err := p.Write(chunk); err != nil {
					errs[i] = err
					_ = p.Abort()
					return
				}
			}
			results[i], errs[i] = p.Commit(sum, ".mp4")
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for _, r := range results {
		require.Equal(t, results[0].Path, r.Path)
		require.EqualValues(t, len(data), r.Size)
	}
	require.Equal(t, data, ReadAll(t, s, results[0].Path))
	RequireNoLeftovers(t, s)
}

func testKilledWriter(t *testing.T, s blob.Store) {
	data, sum := Content(t, 20<<20)
	rel := mustKey(t, 23, sum, ".mp4")

	// The context ends mid-stream: writes fail, nothing is visible, the
	// upload is aborted without the writer's help.
	ctx, cancel := context.WithCancel(context.Background())
	p, err := s.Create(23)
	require.NoError(t, err)
	p.Bind(ctx)
	require.NoError(t, p.Expect(sum, ".mp4"))
	write(t, p, data[:10<<20], 64<<10)
	cancel()
	_, err = p.Write(data[10<<20:])
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, blob.ErrWrite, "a cancelled writer is not the store's fault")
	require.False(t, s.Exists(rel))
	RequireNoLeftovers(t, s)
	_, err = p.Commit(sum, ".mp4")
	require.Error(t, err)
	require.False(t, s.Exists(rel))
	require.NoError(t, p.Abort())

	// A writer that dies without a word: CleanTemp removes what it left.
	for _, expect := range []bool{true, false} {
		p, err = s.Create(23)
		require.NoError(t, err)
		if expect {
			require.NoError(t, p.Expect(sum, ".mp4"))
		}
		write(t, p, data[:18<<20], 64<<10)
		// The dropped writer's last parts may still be in flight (a killed
		// process has none): sweep until the store is quiet, as the
		// periodic cleanup does.
		require.Eventually(t, func() bool {
			_, err := s.CleanTemp(0)
			require.NoError(t, err)
			left, err := s.(Leftovers).Leftovers()
			require.NoError(t, err)
			return len(left) == 0
		}, 10*time.Second, 20*time.Millisecond)
		require.False(t, s.Exists(rel))
	}
}

func testLargeRoundTrip(t *testing.T, s blob.Store) {
	data, sum := Content(t, Large+777)
	put := func(expect bool) blob.Stored {
		p, err := s.Create(24)
		require.NoError(t, err)
		if expect {
			require.NoError(t, p.Expect(sum, ".mp4"))
		}
		write(t, p, data, 1<<20)
		st, err := p.Commit(sum, ".mp4")
		require.NoError(t, err)
		require.EqualValues(t, len(data), st.Size)
		info, err := s.Stat(st.Path)
		require.NoError(t, err)
		require.EqualValues(t, len(data), info.Size)
		got := sha256.Sum256(ReadAll(t, s, st.Path))
		require.Equal(t, sum, got[:], "exact bytes (announced: %v)", expect)
		RequireNoLeftovers(t, s)
		return st
	}
	first := put(true)
	require.False(t, first.Deduplicated)
	require.True(t, put(false).Deduplicated, "the second commit finds the first")
	require.NoError(t, s.Remove(first.Path))
	// Unannounced content: on S3, through a hidden key and a copy.
	require.False(t, put(false).Deduplicated)
}

func testOpenSeekRange(t *testing.T, s blob.Store) {
	data, sum := Content(t, 3<<20)
	st := Put(t, s, 25, data, sum, ".mp4")
	f, err := s.Open(st.Path)
	require.NoError(t, err)
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	require.EqualValues(t, len(data), end)
	for _, r := range []struct{ off, n int64 }{
		{0, 10}, {1 << 20, 4096}, {int64(len(data)) - 100, 100}, {12345, 1 << 20}, {5, 1},
	} {
		pos, err := f.Seek(r.off, io.SeekStart)
		require.NoError(t, err)
		require.Equal(t, r.off, pos)
		buf := make([]byte, r.n)
		_, err = io.ReadFull(f, buf)
		require.NoError(t, err)
		require.Equal(t, data[r.off:r.off+r.n], buf, "range %d+%d", r.off, r.n)
	}
	// Relative seeks continue from where the last read stopped.
	_, err = f.Seek(100, io.SeekStart)
	require.NoError(t, err)
	buf := make([]byte, 50)
	_, err = io.ReadFull(f, buf)
	require.NoError(t, err)
	pos, err := f.Seek(50, io.SeekCurrent)
	require.NoError(t, err)
	require.EqualValues(t, 200, pos)
	_, err = io.ReadFull(f, buf)
	require.NoError(t, err)
	require.Equal(t, data[200:250], buf)
	// At the end, EOF.
	_, err = f.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	n, err := f.Read(buf)
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
	_, err = f.Seek(-1, io.SeekStart)
	require.Error(t, err)

	// What the API does with a Range request.
	for rng, want := range map[string][]byte{
		"bytes=1000-1999": data[1000:2000],
		"bytes=-10":       data[len(data)-10:],
		"bytes=3145000-":  data[3145000:],
		"bytes=0-0":       data[:1],
		"":                nil, // no Range: the whole file
	} {
		g, err := s.Open(st.Path)
		require.NoError(t, err)
		req := httptest.NewRequest(http.MethodGet, "/content", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "x.mp4", time.Time{}, g)
		require.NoError(t, g.Close())
		if want == nil {
			require.Equal(t, http.StatusOK, rec.Code, rng)
			require.Equal(t, data, rec.Body.Bytes(), rng)
			continue
		}
		require.Equal(t, http.StatusPartialContent, rec.Code, rng)
		require.Equal(t, want, rec.Body.Bytes(), rng)
	}
}
