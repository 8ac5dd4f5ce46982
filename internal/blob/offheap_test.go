package blob

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPartBuffersKeptOffHeap: with a buffer budget, the store's part
// buffers are of the part size, writable to the end, kept and handed out
// again, never more than the budget (on Unix they are anonymous mappings
// outside the Go heap: see newPartBuf).
func TestPartBuffersKeptOffHeap(t *testing.T) {
	s, err := NewS3(context.Background(), S3Options{Bucket: "b", Endpoint: "http://127.0.0.1:1", Region: "us-east-1",
		AccessKey: "k", SecretKey: "s", Buffers: 2})
	require.NoError(t, err)
	ctx := context.Background()
	a, err := s.getBuf(ctx)
	require.NoError(t, err)
	b, err := s.getBuf(ctx)
	require.NoError(t, err)
	for _, buf := range []*[]byte{a, b} {
		require.Zero(t, len(*buf))
		require.EqualValues(t, s.partSize, cap(*buf))
		*buf = append(*buf, make([]byte, s.partSize)...) // every byte writable
	}
	full, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	_, err = s.getBuf(full)
	require.Error(t, err, "a third buffer waits for the budget")
	s.putBuf(a)
	again, err := s.getBuf(ctx)
	require.NoError(t, err)
	require.Same(t, a, again, "a buffer given back is handed out again")
	require.Zero(t, len(*again))
}
