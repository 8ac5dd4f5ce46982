package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// TestRunOnS3 is the object storage acceptance: `MEDIA_STORE=s3://media/mp
// mediapipe run` against a versitygw on loopback (the SDK's AWS_* variables
// pointing at it) stores every verified file as an object at the row's path
// under the prefix whose SHA-256 is the row's, serves it through
// /v1/media/{id}/content (whole and by Range), and leaves no multipart upload
// pending. Nothing is written under MEDIA_DIR.
func TestRunOnS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	e := newEnv(t, wasim.InstancePro, wasim.InstanceLite)
	e.vars["MEDIA_STORE"] = "s3://" + srv.Bucket + "/mp"
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		e.vars[k] = v
	}
	ctx := context.Background()
	tokens := map[string]string{} // instance → its cliente's API token
	for i, inst := range []string{wasim.InstancePro, wasim.InstanceLite} {
		rot, err := operator.New(e.store).RotateAPIToken(ctx, "Cliente "+strconv.Itoa(i))
		require.NoError(t, err)
		tokens[inst] = rot.APIToken
	}

	var items []*wasim.Item
	for _, s := range samples.All() {
		it, err := e.sim.AddSample(s)
		require.NoError(t, err)
		items = append(items, it)
	}
	// A file above a multipart part (8 MiB), so one upload streams to the
	// final key in parts.
	big, err := e.sim.AddMedia(samples.LargeVideoSample(12<<20), samples.LargeVideo(12<<20))
	require.NoError(t, err)
	items = append(items, big)
	run := e.start("run")

	hooks := e.sim.Mix(wasim.MixOptions{N: 120, Items: items, Seed: 11, DuplicateRate: 0.05})
	var ids []string
	seen := map[string]bool{}
	for _, h := range hooks {
		if k := h.InstanceID + "/" + h.MessageID; h.Item != nil && !seen[k] {
			seen[k] = true
			ids = append(ids, k)
		}
	}
	poster := &wasim.Poster{Target: "http://" + run.Addr + "/webhooks/wapi", Secrets: e.secrets, Concurrency: 8}
	res, err := poster.Post(ctx, hooks)
	require.NoError(t, err)
	require.Equal(t, len(hooks), res.ByStatus[202], "every webhook accepted: %s", res)

	type stored struct {
		id       int64
		instance string
		path     string
		sum      []byte
	}
	settled := func() (rows []stored, n int) {
		rs, err := pgtest.DB(t, e.store).Query(ctx, `
			SELECT id, instance_id, download_status, coalesce(file_path, ''), coalesce(file_sha256, ''::bytea)
			FROM media_files WHERE instance_id || '/' || message_id = ANY($1)`, ids)
		require.NoError(t, err)
		defer rs.Close()
		for rs.Next() {
			var r stored
			var status string
			require.NoError(t, rs.Scan(&r.id, &r.instance, &status, &r.path, &r.sum))
			switch status {
			case "success":
				rows = append(rows, r)
				n++
			case "failed", "expired":
				n++
			}
		}
		require.NoError(t, rs.Err())
		return rows, n
	}
	var rows []stored
	proctest.Poll(t, 90*time.Second, "every media item settled", func() bool {
		var n int
		rows, n = settled()
		return n == len(ids)
	})
	require.NotEmpty(t, rows)

	client := srv.Client()
	get := func(url, token, rng string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	var sawBig bool
	for _, r := range rows {
		key := "mp/" + r.path
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: &key})
		require.NoError(t, err, "object of media %d at %s", r.id, key)
		data, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		require.Equal(t, hex.EncodeToString(r.sum), hex.EncodeToString(sum[:]), "object %s matches its row", key)
		sawBig = sawBig || len(data) > 8<<20

		url := "http://" + run.Addr + "/v1/media/" + strconv.FormatInt(r.id, 10) + "/content"
		resp, body := get(url, tokens[r.instance], "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, bytes.Equal(data, body), "media %d served whole", r.id)
		require.Equal(t, `"`+hex.EncodeToString(r.sum)+`"`, resp.Header.Get("ETag"))
		if len(data) > 10 {
			resp, body = get(url, tokens[r.instance], "bytes=3-9")
			require.Equal(t, http.StatusPartialContent, resp.StatusCode)
			require.Equal(t, data[3:10], body, "media %d by range", r.id)
		}
	}
	require.True(t, sawBig, "the multipart file was stored")

	// One object per cliente and content, and nothing else (no pending
	// copy, no probe object).
	want := map[string]bool{}
	for _, r := range rows {
		want["mp/"+r.path] = true
	}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("mp/")})
	require.NoError(t, err)
	got := map[string]bool{}
	for _, o := range list.Contents {
		got[aws.ToString(o.Key)] = true
	}
	require.Equal(t, want, got, "the objects are the rows' files")

	ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket, Prefix: aws.String("mp/")})
	require.NoError(t, err)
	require.Empty(t, ups.Uploads, "no multipart upload pending")
	require.Empty(t, e.files(), "nothing under MEDIA_DIR")

	// Ready: the bucket takes writes (a probe object put and deleted).
	resp, err := http.Get("http://" + run.Addr + "/readyz")
	require.NoError(t, err)
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", ready)
	// The store's operations are timed by operation.
	resp, err = http.Get("http://" + run.Addr + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, op := range []string{"create", "commit", "open", "probe", "clean_temp"} {
		require.Regexp(t, `mediapipe_store_operation_seconds_count\{op="`+op+`"\} [1-9]`, string(metrics), op)
	}

	require.Equal(t, 0, run.Stop(syscall.SIGTERM, 30*time.Second), "a clean stop")
	t.Logf("%d webhooks, %d media items, %d objects verified on S3", len(hooks), len(ids), len(rows))
}
