package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// BenchmarkDownloaderProcessLargeVideo streams a 200 MiB video from the
// simulator through a `mediapipe downloader` subprocess (ingest and analyzer
// run as subprocesses too) and reports:
//
//   - dl-MB/s: plain bytes over the downloader's own time for the job
//     (mediapipe_download_duration_seconds: fetch, verify, decrypt, fsync,
//     rename, row update);
//   - wall-MB/s: plain bytes over the time from the webhook post to the
//     success row;
//   - bound-MB/s: wamedia.Decrypt of the same blob from memory to
//     io.Discard, in this process, just before and just after each download
//     (the machine's load varies); ratio is dl-MB/s over it;
//   - dl-cpu-MB/s, bound-cpu-MB/s, cpu-ratio: the same over CPU time
//     (the downloader process's user+system time for the job; the thread
//     time of the decryption), which the machine's other load disturbs less;
//   - rss-MiB: the downloader process's peak resident set (VmHWM of
//     /proc/<pid>/status) over the whole run, and idle-rss-MiB its resident
//     set when ready, before any download.
func BenchmarkDownloaderProcessLargeVideo(b *testing.B) {
	const size = 200 << 20
	e := newEnv(b)
	ingest := e.start("ingest")
	e.start("analyzer")
	dl := e.start("downloader")
	pid := dl.Pid()
	idle := procStatus(b, pid, "VmRSS")

	var dlTime, wall, bound, dlCPU, boundCPU time.Duration
	var plain int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		it := e.largeVideo(b, size, i)
		blob := readBlob(b, it)
		w, c := decryptFromMemory(b, it, blob)
		bound, boundCPU = bound+w, boundCPU+c
		before := downloadSeconds(b, dl)
		cpuBefore := procCPU(b, pid)
		msgID := proctest.NewMessageID()
		body := wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{InstanceID: wasim.InstancePro, MessageID: msgID, Media: it})
		b.StartTimer()

		start := time.Now()
		e.post(ingest, wasim.InstancePro, body)
		e.settle(b, msgID)
		wall += time.Since(start)

		b.StopTimer()
		dlTime += time.Duration((downloadSeconds(b, dl) - before) * float64(time.Second))
		dlCPU += procCPU(b, pid) - cpuBefore
		w, c = decryptFromMemory(b, it, blob)
		bound, boundCPU = bound+w, boundCPU+c
		plain += it.FileLength
		require.NoError(b, os.RemoveAll(e.media)) // keep the disk use of long runs flat
		b.StartTimer()
	}
	b.StopTimer()
	peak := procStatus(b, pid, "VmHWM")
	mbs := func(d time.Duration) float64 { return float64(plain) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(dlTime), "dl-MB/s")
	b.ReportMetric(mbs(wall), "wall-MB/s")
	b.ReportMetric(2*mbs(bound), "bound-MB/s")
	b.ReportMetric(mbs(dlTime)/(2*mbs(bound)), "ratio")
	b.ReportMetric(mbs(dlCPU), "dl-cpu-MB/s")
	b.ReportMetric(2*mbs(boundCPU), "bound-cpu-MB/s")
	b.ReportMetric(mbs(dlCPU)/(2*mbs(boundCPU)), "cpu-ratio")
	b.ReportMetric(float64(peak)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(idle)/(1<<20), "idle-rss-MiB")
	b.ReportMetric(0, "ns/op")
}

// readBlob reads the item's blob, as the CDN serves it, into memory.
func readBlob(b *testing.B, it *wasim.Item) []byte {
	f, err := it.OpenBlob()
	require.NoError(b, err)
	defer f.Close()
	blob, err := io.ReadAll(f)
	require.NoError(b, err)
	return blob
}

// decryptFromMemory runs wamedia.Decrypt of the item's blob from memory to
// io.Discard, the crypto bound of one download, and returns the wall-clock
// time and the CPU time it took.
func decryptFromMemory(b *testing.B, it *wasim.Item, blob []byte) (wall, cpu time.Duration) {
	runtime.LockOSThread() // one goroutine that never blocks: its thread's CPU time is its own
	defer runtime.UnlockOSThread()
	c0 := threadCPU(b)
	start := time.Now()
	_, err := wamedia.Decrypt(bytes.NewReader(blob), io.Discard, it.Params())
	wall = time.Since(start)
	cpu = threadCPU(b) - c0
	require.NoError(b, err)
	return wall, cpu
}

func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(rusageThread, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is Linux's RUSAGE_THREAD.
const rusageThread = 1

// procCPU returns the user and system CPU time of process pid
// (/proc/<pid>/stat, in clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(b, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(b, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// downloadSeconds reads the downloader's total time spent on successful
// downloads from its /metrics.
func downloadSeconds(b *testing.B, p *proctest.Proc) float64 {
	b.Helper()
	return p.Metric("mediapipe_download_duration_seconds_sum", `outcome="success",provider="wapi"`)
}

// procStatus returns a "kB" field of /proc/<pid>/status in bytes.
func procStatus(b *testing.B, pid int, field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
