package blob_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/s3test"
)

// TestUsage: both backends count the stored files of a cliente or of all,
// leaving out files being written, and the iterator stops when asked.
func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) blob.Store
	}{
		{"local", func(t *testing.T) blob.Store { return newLocal(t) }},
		{"s3", func(t *testing.T) blob.Store { return newS3(t, s3test.Start(t), 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := tc.open(t)
			files, bytes, err := blob.Usage(ctx, s, 0)
			require.NoError(t, err)
			require.Zero(t, files+bytes, "an empty store")

			put := func(cliente int64, content string) {
				p, err := s.Create(cliente)
				require.NoError(t, err)
				_, err = p.Write([]byte(content))
				require.NoError(t, err)
				sum := sha256.Sum256([]byte(content))
				_, err = p.Commit(sum[:], ".jpg")
				require.NoError(t, err)
			}
			put(1, "one")
			put(1, "three")
			put(1, "three") // deduplicated
			put(22, "fourteen bytes")
			writing, err := s.Create(1) // a file being written counts for nothing
			require.NoError(t, err)
			defer writing.Abort()
			_, err = writing.Write([]byte("not yet"))
			require.NoError(t, err)

			for _, c := range []struct{ cliente, files, bytes int64 }{{0, 3, 22}, {1, 2, 8}, {22, 1, 14}, {5, 0, 0}} {
				files, bytes, err := blob.Usage(ctx, blob.Observe(s, func(string, time.Duration, error) {}), c.cliente)
				require.NoError(t, err)
				require.Equal(t, [2]int64{c.files, c.bytes}, [2]int64{files, bytes}, "cliente %d", c.cliente)
			}
			l, ok := blob.AsLister(s)
			require.True(t, ok)
			n := 0
			for st, err := range l.Files(ctx, 0) {
				require.NoError(t, err)
				require.NoError(t, blob.CheckPath(st.Path))
				n++
				break
			}
			require.Equal(t, 1, n)
			_, _, err = blob.Usage(ctx, s, -1)
			require.ErrorIs(t, err, blob.ErrInvalidPath)
		})
	}
}
