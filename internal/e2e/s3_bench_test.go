package e2e_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/blob/blobtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// BenchmarkDownloaderProcessLargeVideoS3 streams a 200 MiB video from the
// simulator through a `mediapipe downloader` subprocess into S3
// (MEDIA_STORE=s3://media/mp on a versitygw on loopback) and compares it,
// in the same run, with the same SDK client uploading the same plain bytes
// from memory (multipart, the store's part size and concurrency), just
// before and just after each download:
//
//   - dl-MB/s: plain bytes over the downloader's own time for the job
//     (fetch, verify, decrypt, multipart upload, complete, row update);
//
//   - memory-MB/s: the upload from memory; ratio is dl-MB/s over it;
//
//   - rss-MiB: the downloader process's peak resident set (VmHWM) over the
//     whole run, idle-rss-MiB its resident set when ready.
//
//     PATH=/tmp/gotools:$PATH TEST_DATABASE_URL=... go test -run '^$' -bench LargeVideoS3 -benchtime 2x ./internal/e2e/
func BenchmarkDownloaderProcessLargeVideoS3(b *testing.B) {
	const size = 200 << 20
	srv := s3test.Start(b)
	e := newEnv(b)
	e.vars["MEDIA_STORE"] = "s3://" + srv.Bucket + "/mp"
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		e.vars[k] = v
	}
	ingest := e.start("ingest")
	e.start("analyzer")
	dl := e.start("downloader")
	pid := dl.Pid()
	idle := procStatus(b, pid, "VmRSS")
	ctx := context.Background()
	client := srv.Client()

	var dlTime, memTime time.Duration
	var plain int64
	upload := func(data []byte, i int) {
		key := fmt.Sprintf("bench/memory-%d", i)
		start := time.Now()
		require.NoError(b, blobtest.PutMemory(ctx, client, srv.Bucket, key, data, blob.DefaultPartSize, blob.DefaultConcurrency))
		memTime += time.Since(start)
		_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &srv.Bucket, Key: &key})
		require.NoError(b, err)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		it := e.largeVideo(b, size, i)
		f, err := it.OpenPlain()
		require.NoError(b, err)
		data, err := io.ReadAll(f)
		f.Close()
		require.NoError(b, err)
		upload(data, 2*i)
		before := downloadSeconds(b, dl)
		msgID := proctest.NewMessageID()
		body := wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{InstanceID: wasim.InstancePro, MessageID: msgID, Media: it})
		b.StartTimer()

		e.post(ingest, wasim.InstancePro, body)
		r := e.settle(b, msgID)

		b.StopTimer()
		dlTime += time.Duration((downloadSeconds(b, dl) - before) * float64(time.Second))
		upload(data, 2*i+1)
		plain += it.FileLength
		key := "mp/" + r.Path // keep the disk use of long runs flat
		_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &srv.Bucket, Key: &key})
		require.NoError(b, err)
		b.StartTimer()
	}
	b.StopTimer()
	peak := procStatus(b, pid, "VmHWM")
	mbs := func(d time.Duration) float64 { return float64(plain) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(dlTime), "dl-MB/s")
	b.ReportMetric(2*mbs(memTime), "memory-MB/s")
	b.ReportMetric(mbs(dlTime)/(2*mbs(memTime)), "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(idle)/(1<<20), "idle-rss-MiB")
	b.ReportMetric(0, "ns/op")
}

// largeVideo adds a large video of size bytes for a benchmark's iteration i
// to the simulator: distinct content in every iteration.
func (e *env) largeVideo(b *testing.B, size int64, i int) *wasim.Item {
	n := size + 16*int64(i)
	it, err := e.sim.AddMedia(samples.LargeVideoSample(n), samples.LargeVideo(n))
	require.NoError(b, err)
	return it
}

// settle waits until the message's media row is a success and returns it;
// a failed or expired row fails the benchmark.
func (e *env) settle(b *testing.B, msgID string) row {
	for {
		r := e.rows(wasim.InstancePro, []string{msgID})[msgID]
		if r.Status == "success" {
			return r
		}
		require.NotContains(b, []string{"failed", "expired"}, r.Status, r.Reason)
		time.Sleep(2 * time.Millisecond)
	}
}
