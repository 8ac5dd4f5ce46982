package analyzer_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkAnalyzer measures webhooks a second from a pre-filled WEBHOOKS
// stream into PostgreSQL: bus.Run with the analyzer's batch handler, as the
// app runs it (2 batch loops of up to 256), until the consumer has nothing
// pending or unacknowledged. The webhooks are the samples with unique
// message ids, one in four carrying media. The target is 10,000 webhooks/s.
func BenchmarkAnalyzer(b *testing.B) {
	for _, mediaEvery := range []int{4, 1} {
		b.Run(fmt.Sprintf("media=%d%%", 100/mediaEvery), func(b *testing.B) { benchmarkAnalyzer(b, mediaEvery) })
	}
}

func benchmarkAnalyzer(b *testing.B, mediaEvery int) {
	topo := testTopology()
	topo.MaxBytes = 8 << 30
	bb := setup(b, topo)
	bodies, instances, media := hooks(b, b.N, mediaEvery, "")
	bb.publishAll(b, bodies, instances)
	drained := func() bool {
		info := bb.consumerInfo(b)
		return info.NumPending == 0 && info.NumAckPending == 0
	}

	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	bb.runWorker(b, nil)
	for !drained() {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()

	require.Equal(b, len(media), bb.countRows(b), "one row per media item")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "webhooks/s")
	b.ReportMetric(float64(len(media))/elapsed.Seconds(), "media/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/webhook")
}

// cpuTime is the user and system CPU time the process used so far (the
// embedded NATS server included; PostgreSQL not).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
