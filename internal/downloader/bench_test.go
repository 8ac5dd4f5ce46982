package downloader_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/internal/samples"
)

// BenchmarkPipelineSmallMedia measures the downloader's pipeline in one
// process (JetStream, PostgreSQL, downloader, file store) on small media:
// each iteration records a batch of webhooks' media as the analyzer does,
// each a distinct encrypted file of a few KiB from the simulator, queues
// their jobs and waits until every row is a success. media/s is the batch
// size over the time from the first record to the last success;
// cpu-µs/media is this process's CPU time (user and system: recording,
// NATS, downloader, simulator; not PostgreSQL) per media item. The whole
// process, ingest and analyzer included, is measured by the scale test.
//
// It runs on both file stores in the same run: file (a directory) and s3
// (a versitygw on loopback serving a directory, part buffers shared as the
// process shares them: 2 × DOWNLOAD_WORKERS + 2).
func BenchmarkPipelineSmallMedia(b *testing.B) {
	const workers = 32
	b.Run("file", func(b *testing.B) { benchmarkSmallMedia(b, nil, workers) })
	b.Run("s3", func(b *testing.B) {
		srv := s3test.Start(b)
		s, err := blob.NewS3(context.Background(), blob.S3Options{Bucket: srv.Bucket, Prefix: "bench", Endpoint: srv.Endpoint,
			Region: s3test.Region, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Buffers: 2*workers + 2})
		require.NoError(b, err)
		benchmarkSmallMedia(b, s, workers)
	})
}

func benchmarkSmallMedia(b *testing.B, blobs blob.Store, workers int) {
	const batch = 1000
	p := setup(b, pipelineOptions{maxDeliver: 8, blobs: blobs, env: map[string]string{"DOWNLOAD_WORKERS": strconv.Itoa(workers)}})
	names := []string{samples.ImageJPEG, samples.ImagePNG, samples.StickerWebP, samples.AudioVoice,
		samples.AudioMP3, samples.VideoGIF, samples.DocumentPDF}
	var total, cpu time.Duration
	var bytesTotal int64
	done := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		bodies := make([][]byte, batch)
		for j := range bodies {
			it := addSample(b, p.sim, variant(names[j%len(names)], i*batch+j))
			bytesTotal += it.FileLength
			_, bodies[j] = hook(it, nil)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU(b)
		for k := 0; k < len(bodies); k += 100 {
			p.record(bodies[k:min(k+100, len(bodies))]...)
		}
		done += batch
		for p.successes() < done {
			time.Sleep(2 * time.Millisecond)
		}
		total += time.Since(start)
		cpu += processCPU(b) - cpu0
	}
	b.StopTimer()
	require.Equal(b, done, p.successes())
	b.ReportMetric(float64(done)/total.Seconds(), "media/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(done), "cpu-µs/media")
	b.ReportMetric(float64(bytesTotal)/float64(done), "bytes/media")
	b.ReportMetric(0, "ns/op")
}

func (p *pipeline) successes() int {
	var n int
	err := pgtest.DB(p.t, p.store).QueryRow(context.Background(),
		`SELECT count(*) FROM media_files WHERE download_status = 'success'`).Scan(&n)
	require.NoError(p.t, err)
	return n
}

// BenchmarkStoreSmallFiles is the file store's share of the work above, alone:
// 32 goroutines each create, write (3 KiB), fsync and commit distinct files
// under MEDIA_DIR's layout. files/s bounds what the pipeline can reach on
// the same disk.
func BenchmarkStoreSmallFiles(b *testing.B) {
	store, err := blob.NewLocal(b.TempDir())
	require.NoError(b, err)
	data := samples.Random(3000, 1)
	var next atomic.Int64
	start, cpu0 := time.Now(), processCPU(b)
	b.ResetTimer()
	b.SetParallelism(16) // 32 goroutines on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		buf := append([]byte(nil), data...)
		for pb.Next() {
			binary.LittleEndian.PutUint64(buf, uint64(next.Add(1)))
			sum := sha256.Sum256(buf)
			p, err := store.Create(1)
			if err == nil {
				_, err = p.Write(buf)
			}
			if err == nil {
				_, err = p.Commit(sum[:], ".bin")
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "files/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/file")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
