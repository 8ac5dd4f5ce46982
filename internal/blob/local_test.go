package blob_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/blob/blobtest"
)

func newLocal(t *testing.T) *blob.Local {
	t.Helper()
	s, err := blob.NewLocal(filepath.Join(t.TempDir(), "media"))
	require.NoError(t, err)
	return s
}

func TestLocalConformance(t *testing.T) {
	t.Parallel()
	blobtest.StoreSuite(t, func(t *testing.T) blob.Store { return newLocal(t) })
}

func tempFiles(t *testing.T, s *blob.Local, cliente string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Root(), cliente, ".tmp"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestLocalLayoutOnDisk(t *testing.T) {
	t.Parallel()
	s := newLocal(t)
	data, sum := blobtest.Content(t, 3000)

	p, err := s.Create(12)
	require.NoError(t, err)
	_, err = p.Write(data)
	require.NoError(t, err)
	parts := tempFiles(t, s, "12")
	require.Len(t, parts, 1)
	require.Regexp(t, regexp.MustCompile(`^\.[^/]+\.part$`), parts[0])

	st, err := p.Commit(sum, ".png")
	require.NoError(t, err)
	require.Empty(t, tempFiles(t, s, "12"), "the temporary file became the stored file")

	full := filepath.Join(s.Root(), filepath.FromSlash(st.Path))
	got, err := os.ReadFile(full)
	require.NoError(t, err)
	require.Equal(t, data, got)
	fi, err := os.Stat(full)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm())

	// A duplicate leaves no temporary file behind either.
	again := blobtest.Put(t, s, 12, data, sum, ".png")
	require.True(t, again.Deduplicated)
	require.Empty(t, tempFiles(t, s, "12"))

	// Abort removes the temporary file.
	p, err = s.Create(12)
	require.NoError(t, err)
	require.Len(t, tempFiles(t, s, "12"), 1)
	require.NoError(t, p.Abort())
	require.Empty(t, tempFiles(t, s, "12"))
}

func TestLocalReplacesDamagedCopy(t *testing.T) {
	t.Parallel()
	s := newLocal(t)
	data, sum := blobtest.Content(t, 2000)
	rel, err := blob.Key(3, sum, ".jpg")
	require.NoError(t, err)
	full := filepath.Join(s.Root(), filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o750))
	require.NoError(t, os.WriteFile(full, data[:100], 0o640))

	st := blobtest.Put(t, s, 3, data, sum, ".jpg")
	require.False(t, st.Deduplicated, "a copy of another size is not the same content")
	require.Equal(t, data, blobtest.ReadAll(t, s, rel))
}

func TestLocalCleanTemp(t *testing.T) {
	t.Parallel()
	s := newLocal(t)
	old, err := s.Create(1)
	require.NoError(t, err)
	_, err = old.Write([]byte("left by a killed process"))
	require.NoError(t, err)
	fresh, err := s.Create(2)
	require.NoError(t, err)

	stale := filepath.Join(s.Root(), "1", ".tmp", tempFiles(t, s, "1")[0])
	past := time.Now().Add(-3 * time.Hour)
	require.NoError(t, os.Chtimes(stale, past, past))
	other := filepath.Join(s.Root(), "1", ".tmp", "notes.txt")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	require.NoError(t, os.Chtimes(other, past, past))
	require.NoError(t, os.WriteFile(filepath.Join(s.Root(), "README"), nil, 0o600))

	n, err := s.CleanTemp(time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoFileExists(t, stale)
	require.FileExists(t, other, "only .part files are touched")
	require.Len(t, tempFiles(t, s, "2"), 1, "fresh files stay")

	require.NoError(t, fresh.Abort())
	require.NoError(t, old.Abort(), "aborting a cleaned-up file is fine")
}

func TestNewLocalCreatesRoot(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := blob.NewLocal(root)
	require.NoError(t, err)
	require.DirExists(t, root)
	require.True(t, filepath.IsAbs(s.Root()))
}
