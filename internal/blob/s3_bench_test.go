package blob_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/blob/blobtest"
	"github.com/multichat/mediapipe/internal/s3test"
)

// stream yields size bytes in chunks of n, repeating a 1 MiB block, without
// holding the whole content.
type stream struct {
	block []byte
	size  int64
}

func newStream(size int64) stream {
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*7 + i>>8)
	}
	return stream{block: block, size: size}
}

func (s stream) each(n int, fn func([]byte) error) error {
	buf := make([]byte, n)
	for off := int64(0); off < s.size; {
		k := int(min(int64(n), s.size-off))
		for i := 0; i < k; {
			at := int((off + int64(i)) % int64(len(s.block)))
			c := copy(buf[i:k], s.block[at:])
			i += c
		}
		if err := fn(buf[:k]); err != nil {
			return err
		}
		off += int64(k)
	}
	return nil
}

func (s stream) sum() []byte {
	h := sha256.New()
	_ = s.each(64<<10, func(b []byte) error { _, err := h.Write(b); return err })
	return h.Sum(nil)
}

// peaks samples the heap in use and the resident set until stopped and
// returns their high-water marks.
func peaks() (stop func() (heap, rss uint64)) {
	var heapPeak, rssPeak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > heapPeak.Load() {
			heapPeak.Store(m.HeapInuse)
		}
		if r := vmRSS(); r > rssPeak.Load() {
			rssPeak.Store(r)
		}
	}
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		sample()
		return heapPeak.Load(), rssPeak.Load()
	}
}

// vmRSS is the process's resident set now, from /proc (0 elsewhere).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// putPending streams st through a Pending (Expect first, as the downloader
// does) and commits it.
func putPending(s *blob.S3, cliente int64, st stream, sum []byte) (blob.Stored, error) {
	p, err := s.Create(cliente)
	if err != nil {
		return blob.Stored{}, err
	}
	if err := p.Expect(sum, ".mp4"); err != nil {
		return blob.Stored{}, err
	}
	if err := st.each(32<<10, func(b []byte) error { _, err := p.Write(b); return err }); err != nil {
		_ = p.Abort()
		return blob.Stored{}, err
	}
	return p.Commit(sum, ".mp4")
}

// putMemory uploads data with the same client, part size and concurrency
// straight from memory: the yardstick.
func putMemory(ctx context.Context, s *blob.S3, key string, data []byte) error {
	return blobtest.PutMemory(ctx, s.Client(), s.Bucket(), key, data, s.PartSize(), s.Concurrency())
}

// TestS3FlatMemory streams 96 MiB through a Pending and checks that the
// heap stays flat: the parts in flight and the one being filled.
func TestS3FlatMemory(t *testing.T) {
	srv := s3test.Start(t)
	s := newS3(t, srv, 0)
	st := newStream(96 << 20)
	sum := st.sum()
	runtime.GC()
	stop := peaks()
	stored, err := putPending(s, 1, st, sum)
	peak, _ := stop()
	require.NoError(t, err)
	require.EqualValues(t, 96<<20, stored.Size)
	got := sha256.Sum256(blobtest.ReadAll(t, s, stored.Path))
	require.Equal(t, sum, got[:])
	t.Logf("heap high-water %.1f MiB streaming 96 MiB", float64(peak)/(1<<20))
	require.Less(t, peak, uint64(64<<20), "heap high-water")
	blobtest.RequireNoLeftovers(t, s)

	// Six files at once share the store's budget of four buffers.
	shared, err := blob.NewS3(context.Background(), blob.S3Options{
		Bucket: srv.Bucket, Prefix: "shared", Endpoint: srv.Endpoint, Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Buffers: 4,
	})
	require.NoError(t, err)
	st = newStream(40 << 20)
	sum = st.sum()
	runtime.GC()
	stop = peaks()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range 6 {
		wg.Go(func() { _, errs[i] = putPending(shared, int64(i+1), st, sum) })
	}
	wg.Wait()
	peak, _ = stop()
	require.NoError(t, errors.Join(errs...))
	t.Logf("heap high-water %.1f MiB streaming 6 × 40 MiB at once", float64(peak)/(1<<20))
	require.Less(t, peak, uint64(64<<20), "heap high-water")
	for i := range 6 {
		rel, err := blob.Key(int64(i+1), sum, ".mp4")
		require.NoError(t, err)
		info, err := shared.Stat(rel)
		require.NoError(t, err)
		require.EqualValues(t, 40<<20, info.Size)
	}
	blobtest.RequireNoLeftovers(t, shared)
}

// BenchmarkS3Stream compares a 200 MiB stream through a Pending into
// versitygw with the same SDK client uploading the same bytes from memory
// (multipart, same part size and concurrency), in the same run:
//
//	PATH=/tmp/gotools:$PATH go test -run '^$' -bench S3Stream -benchtime 3x ./internal/blob/
func BenchmarkS3Stream(b *testing.B) {
	srv := s3test.Start(b)
	s, err := blob.NewS3(context.Background(), blob.S3Options{
		Bucket: srv.Bucket, Prefix: "bench", Endpoint: srv.Endpoint, Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
	})
	require.NoError(b, err)
	const size = 200 << 20
	st := newStream(size)
	sum := st.sum()
	ctx := context.Background()

	debug.FreeOSMemory() // what an earlier round of the benchmark held
	stop := peaks()
	var pendingTime time.Duration
	for i := range b.N {
		start := time.Now()
		stored, err := putPending(s, int64(i+1), st, sum)
		pendingTime += time.Since(start)
		require.NoError(b, err)
		require.False(b, stored.Deduplicated)
		require.NoError(b, s.Remove(stored.Path))
	}
	peak, rss := stop()

	data := make([]byte, 0, size)
	_ = st.each(1<<20, func(p []byte) error { data = append(data, p...); return nil })
	var memTime time.Duration
	for i := range b.N {
		key := fmt.Sprintf("bench/memory-%d", i)
		start := time.Now()
		require.NoError(b, putMemory(ctx, s, key, data))
		memTime += time.Since(start)
		_, err := s.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket()), Key: &key})
		require.NoError(b, err)
	}

	mib := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mib/pendingTime.Seconds(), "pending_MiB/s")
	b.ReportMetric(mib/memTime.Seconds(), "memory_MiB/s")
	b.ReportMetric(memTime.Seconds()/pendingTime.Seconds(), "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
	b.ReportMetric(float64(rss)/(1<<20), "peak_rss_MiB")
}
