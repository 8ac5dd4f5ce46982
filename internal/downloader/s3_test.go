package downloader_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/blob/blobtest"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// requestLog is an HTTP transport that records the S3 requests it carries.
type requestLog struct {
	mu   sync.Mutex
	reqs []string // "METHOD path?query [copy]"
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	line := r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery
	if r.Header.Get("X-Amz-Copy-Source") != "" {
		line += " copy"
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, line)
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (l *requestLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
}

// TestS3UploadsToFinalKey: on S3 the downloader announces the content
// (Expect) before the first part leaves, so a large file's parts go
// straight to its final key and are never copied; an attempt whose
// verification fails (a corrupted blob) aborts its upload; in the end the
// object is the exact plain file and no upload is pending.
func TestS3UploadsToFinalKey(t *testing.T) {
	if testing.Short() {
		t.Skip("registers a 24 MiB video")
	}
	t.Parallel()
	srv := s3test.Start(t)
	rec := &requestLog{}
	store, err := blob.NewS3(context.Background(), blob.S3Options{Bucket: srv.Bucket, Prefix: "dl", Endpoint: srv.Endpoint,
		Region: s3test.Region, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		HTTPClient: &http.Client{Transport: rec}})
	require.NoError(t, err)
	p := setup(t, pipelineOptions{blobs: store})
	const size = 24 << 20
	it, err := p.sim.AddMedia(samples.LargeVideoSample(size), samples.LargeVideo(size),
		wasim.WithFaults(wasim.Fault{Kind: wasim.FaultCorrupt, Times: 1}))
	require.NoError(t, err)
	r := p.waitOne(p.send(it, nil))
	require.Equal(t, catalog.StatusSuccess, r.Status, "reason %q", r.Reason)
	require.GreaterOrEqual(t, r.Attempts, 2, "the corrupted blob cost an attempt")

	f, err := store.Open(r.Path)
	require.NoError(t, err)
	got, err := io.ReadAll(f)
	f.Close()
	require.NoError(t, err)
	require.True(t, bytes.Equal(plainOf(t, it), got), "the object is the exact plain media")

	final := "/" + srv.Bucket + "/dl/" + r.Path + "?"
	var parts, aborts int
	for _, line := range rec.lines() {
		require.NotContains(t, line, " copy", "no server-side copy: %s", line)
		if strings.HasPrefix(line, "PUT ") && strings.Contains(line, "partNumber=") {
			parts++
			require.True(t, strings.HasPrefix(line, "PUT "+final), "a part goes to the final key: %s", line)
		}
		if strings.HasPrefix(line, "DELETE ") && strings.Contains(line, "uploadId=") {
			aborts++
		}
	}
	require.GreaterOrEqual(t, parts, 2*size/blob.DefaultPartSize-1, "the parts of both attempts")
	require.Positive(t, aborts, "the failed attempt's upload was aborted")
	blobtest.RequireNoLeftovers(t, store)
}
