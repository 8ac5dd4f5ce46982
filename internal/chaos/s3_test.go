package chaos_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
)

// s3Faults is a reverse proxy in front of the S3 gateway that answers 2 %
// of requests 500 without forwarding them and delays 5 % by 200 ms: what a
// struggling object store looks like to the SDK (which retries) and to the
// downloader (which must neither lose nor duplicate anything).
type s3Faults struct {
	URL                       string
	requests, failed, delayed atomic.Int64
}

func newS3Faults(t *testing.T, target string) *s3Faults {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	f := &s3Faults{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		switch p := rand.Float64(); {
		case p < 0.02:
			f.failed.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
			return
		case p < 0.07:
			f.delayed.Add(1)
			time.Sleep(200 * time.Millisecond)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// eachObject calls fn with the key (less prefix) of every object under
// prefix, hidden temporaries included.
func eachObject(ctx context.Context, c *s3.Client, bucket, prefix string, fn func(rel string) error) error {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if err := fn(strings.TrimPrefix(aws.ToString(o.Key), prefix)); err != nil {
				return err
			}
		}
	}
	return nil
}

// objectSHA256 reads an object whole through SHA-256.
func objectSHA256(ctx context.Context, c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
