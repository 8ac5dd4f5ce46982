package blob_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/blob/blobtest"
	"github.com/multichat/mediapipe/internal/s3test"
)

// failParts answers part uploads with a 500 while fail says so; every
// other request reaches the server.
type failParts struct {
	next  http.RoundTripper
	fail  func(attempt int64) bool
	count atomic.Int64
}

func (f *failParts) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.URL.Query().Has("partNumber") && f.fail(f.count.Add(1)) {
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		return &http.Response{
			StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
			Header: http.Header{"Content-Type": {"application/xml"}},
			Body:   io.NopCloser(strings.NewReader(`<Error><Code>InternalError</Code><Message>injected</Message></Error>`)),
			Proto:  "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req,
		}, nil
	}
	return f.next.RoundTrip(req)
}

func TestS3WriteFaults(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	data, sum := blobtest.Content(t, 30<<20)
	clean := newS3(t, srv, 0)
	faulty := func(fail func(int64) bool) *blob.S3 {
		s, err := blob.NewS3(context.Background(), blob.S3Options{
			Bucket: srv.Bucket, Prefix: strings.TrimSuffix(clean.Prefix(), "/"),
			Endpoint: srv.Endpoint, Region: s3test.Region,
			AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
			HTTPClient: &http.Client{Transport: &failParts{next: http.DefaultTransport, fail: fail}},
		})
		require.NoError(t, err)
		return s
	}
	stream := func(s blob.Store) (blob.Stored, error) {
		p, err := s.Create(31)
		require.NoError(t, err)
		require.NoError(t, p.Expect(sum, ".mp4"))
		for off := 0; off < len(data); off += 1 << 20 {
			if _, err := p.Write(data[off : off+1<<20]); err != nil {
				require.NoError(t, p.Abort())
				return blob.Stored{}, err
			}
		}
		st, err := p.Commit(sum, ".mp4")
		if err != nil {
			require.NoError(t, p.Abort())
		}
		return st, err
	}
	rel, err := blob.Key(31, sum, ".mp4")
	require.NoError(t, err)

	// Every part fails: a store fault, nothing visible, nothing pending.
	_, err = stream(faulty(func(int64) bool { return true }))
	require.ErrorIs(t, err, blob.ErrWrite)
	require.False(t, clean.Exists(rel))
	blobtest.RequireNoLeftovers(t, clean)

	// One 500 now and then: the SDK's retries carry the upload through.
	st, err := stream(faulty(func(n int64) bool { return n%3 == 1 }))
	require.NoError(t, err)
	require.Equal(t, data, blobtest.ReadAll(t, clean, st.Path))
	require.NoError(t, clean.Remove(st.Path))

	// The server goes away mid-stream and comes back: the writer fails, its
	// abort (after the restart) leaves nothing.
	p, err := clean.Create(31)
	require.NoError(t, err)
	require.NoError(t, p.Expect(sum, ".mp4"))
	_, err = p.Write(data[:20<<20])
	require.NoError(t, err)
	srv.Stop()
	_, err = p.Write(data[20<<20:])
	if err == nil {
		_, err = p.Commit(sum, ".mp4")
	}
	require.Error(t, err)
	srv.Restart(t)
	require.NoError(t, p.Abort())
	require.False(t, clean.Exists(rel))
	blobtest.RequireNoLeftovers(t, clean)
	st, err = stream(clean)
	require.NoError(t, err)
	require.Equal(t, data, blobtest.ReadAll(t, clean, st.Path))
}
