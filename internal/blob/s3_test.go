package blob_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/blob/blobtest"
	"github.com/multichat/mediapipe/internal/s3test"
)

// newS3 returns an S3 store on srv under a prefix of its own.
func newS3(t *testing.T, srv *s3test.Server, partSize int64) *blob.S3 {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	s, err := blob.NewS3(context.Background(), blob.S3Options{
		Bucket: srv.Bucket, Prefix: "t-" + hex.EncodeToString(b[:]) + "/mp",
		Endpoint: srv.Endpoint, Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		PartSize: partSize,
	})
	require.NoError(t, err)
	return s
}

func TestS3Conformance(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	blobtest.StoreSuite(t, func(t *testing.T) blob.Store { return newS3(t, srv, 0) })
}

func TestLocalLeftovers(t *testing.T) {
	t.Parallel()
	s := newLocal(t)
	p, err := s.Create(3)
	require.NoError(t, err)
	_, err = p.Write([]byte("x"))
	require.NoError(t, err)
	left, err := s.Leftovers()
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Regexp(t, `^3/\.tmp/\.[^/]+\.part$`, left[0])
	require.NoError(t, p.Abort())
	blobtest.RequireNoLeftovers(t, s)
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		url  string
		ok   bool
		kind string
	}{
		{"file://" + dir + "/media", true, "*blob.Local"},
		{dir + "/plain", true, "*blob.Local"},
		{"file://host/dir", false, ""},
		{"file://relative", false, ""},
		{"s3:///prefix", false, ""},
		{"s3://user:pw@bucket/p", false, ""},
		{"s3://bucket/p?region=x", false, ""},
		{"gs://bucket/p", false, ""},
		{"", false, ""},
	} {
		s, err := blob.OpenURL(context.Background(), tc.url, blob.S3Options{})
		if !tc.ok {
			require.Error(t, err, tc.url)
			continue
		}
		require.NoError(t, err, tc.url)
		require.Equal(t, tc.kind, fmt.Sprintf("%T", s))
	}

	// S3 through the SDK's standard variables only, path style because an
	// endpoint is set.
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	s, err := blob.OpenURL(context.Background(), "s3://"+srv.Bucket+"/env/mp/", blob.S3Options{})
	require.NoError(t, err)
	s3s := s.(*blob.S3)
	require.Equal(t, "env/mp/", s3s.Prefix())
	require.NoError(t, s3s.Probe())
	data, sum := blobtest.Content(t, 1000)
	st := blobtest.Put(t, s, 1, data, sum, ".jpg")
	require.Equal(t, data, blobtest.ReadAll(t, s, st.Path))
	_, err = os.Stat(filepath.Join(srv.Dir, srv.Bucket, "env", "mp", filepath.FromSlash(st.Path)))
	require.NoError(t, err, "the object sits at <prefix>/<relative path>")

	t.Setenv("S3_FORCE_PATH_STYLE", "maybe")
	_, err = blob.OpenURL(context.Background(), "s3://"+srv.Bucket, blob.S3Options{})
	require.ErrorContains(t, err, "S3_FORCE_PATH_STYLE")
}

func TestS3ProbePresignAndFaults(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := newS3(t, srv, 0)
	require.NoError(t, s.Probe())
	data, sum := blobtest.Content(t, 5000)
	st := blobtest.Put(t, s, 1, data, sum, ".jpg")

	u, err := s.Presign(st.Path, time.Minute)
	require.NoError(t, err)
	resp, err := http.Get(u)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, data, body)
	_, err = s.Presign("../x", time.Minute)
	require.ErrorIs(t, err, blob.ErrInvalidPath)

	// A missing bucket: the probe fails as a write fault, reads as missing.
	gone, err := blob.NewS3(context.Background(), blob.S3Options{
		Bucket: "no-such-bucket", Endpoint: srv.Endpoint, Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
	})
	require.NoError(t, err)
	require.ErrorIs(t, gone.Probe(), blob.ErrWrite)
	require.False(t, gone.Exists(st.Path))

	// The server restarts: the store carries on.
	srv.Restart(t)
	require.Equal(t, data, blobtest.ReadAll(t, s, st.Path))
	require.NoError(t, s.Probe())
}

func TestS3ContentType(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := newS3(t, srv, 0)
	for ext, want := range map[string]string{".jpg": "image/jpeg", ".ogg": "audio/ogg", ".xyz": "application/octet-stream"} {
		data, sum := blobtest.Content(t, 100)
		st := blobtest.Put(t, s, 1, data, sum, ext)
		key := s.Prefix() + st.Path
		out, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(s.Bucket()), Key: &key})
		require.NoError(t, err)
		require.Equal(t, want, aws.ToString(out.ContentType), ext)
	}
	// Through a hidden key and a copy too.
	data, sum := blobtest.Content(t, 9<<20)
	st := blobtest.Put(t, s, 1, data, sum, ".mp4")
	key := s.Prefix() + st.Path
	out, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(s.Bucket()), Key: &key})
	require.NoError(t, err)
	require.Equal(t, "video/mp4", aws.ToString(out.ContentType))
}
