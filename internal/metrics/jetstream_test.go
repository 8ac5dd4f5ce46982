package metrics_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/metrics"
	"github.com/multichat/mediapipe/internal/natstest"
)

var watched = map[string]string{bus.ConsumerAnalyzer: bus.StreamWebhooks, bus.ConsumerDownloader: bus.StreamDownloads}

func setupJetStream(t *testing.T) (jetstream.JetStream, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(ctx, js, bus.DefaultTopology()))
	return js, ctx
}

// consumerSeries returns the JetStream gauges of a scrape (backlog and dead
// letters).
func consumerSeries(samples map[string]string) []string {
	var out []string
	for s := range samples {
		if strings.HasPrefix(s, "mediapipe_consumer_") || strings.HasPrefix(s, "mediapipe_deadletter_") {
			out = append(out, s)
		}
	}
	return out
}

// TestJetStreamGauges_OneReporter checks that of the processes watching the
// same JetStream only the lease holder exports the cluster-wide gauges, so
// that a sum over pods counts each consumer once, and that another process
// takes over once the holder's lease is gone.
func TestJetStreamGauges_OneReporter(t *testing.T) {
	js, ctx := setupJetStream(t)
	a, b := metrics.New(), metrics.New()
	a.WatchJetStream(js, 1, watched)
	b.WatchJetStream(js, 1, watched)

	sa, _ := scrape(t, a.Handler())
	sb, _ := scrape(t, b.Handler())
	require.Equal(t, "1", sa["mediapipe_jetstream_reporter"])
	require.Equal(t, "0", sb["mediapipe_jetstream_reporter"])
	require.Len(t, consumerSeries(sa), 6, "2 consumers x 2 gauges + 2 dead-letter streams")
	require.Empty(t, consumerSeries(sb))
	require.Equal(t, "1", sa["mediapipe_jetstream_up"])
	require.Equal(t, "1", sb["mediapipe_jetstream_up"], "a lease held elsewhere is no error")

	// The holder keeps the lease while scraped.
	sa, _ = scrape(t, a.Handler())
	require.Equal(t, "1", sa["mediapipe_jetstream_reporter"])

	// The lease gone (as when it expires): the next process scraped takes
	// it, and the former holder stops exporting.
	kv, err := js.KeyValue(ctx, "mediapipe_metrics")
	require.NoError(t, err)
	require.NoError(t, kv.Delete(ctx, "jetstream-reporter"))
	sb, _ = scrape(t, b.Handler())
	sa, _ = scrape(t, a.Handler())
	require.Equal(t, "1", sb["mediapipe_jetstream_reporter"])
	require.Len(t, consumerSeries(sb), 6)
	require.Equal(t, "0", sa["mediapipe_jetstream_reporter"])
	require.Empty(t, consumerSeries(sa))
	entry, err := kv.Get(ctx, "jetstream-reporter")
	require.NoError(t, err)
	require.NotEmpty(t, string(entry.Value()), "the holder names itself")
}

// TestJetStreamGauges_LeaseExpires checks that a holder no longer scraped
// (a dead pod) loses the lease after its TTL.
func TestJetStreamGauges_LeaseExpires(t *testing.T) {
	metrics.SetLeaseTTL(time.Second)
	t.Cleanup(func() { metrics.SetLeaseTTL(2 * time.Minute) })
	js, _ := setupJetStream(t)
	a, b := metrics.New(), metrics.New()
	a.WatchJetStream(js, 1, watched)
	b.WatchJetStream(js, 1, watched)
	sa, _ := scrape(t, a.Handler())
	require.Equal(t, "1", sa["mediapipe_jetstream_reporter"])
	require.Eventually(t, func() bool {
		sb, _ := scrape(t, b.Handler())
		return sb["mediapipe_jetstream_reporter"] == "1"
	}, 10*time.Second, 100*time.Millisecond)
}

// TestJetStreamGauges_DeadLetters checks the dead-letter depth per source
// stream against records written by the bus itself; replay marks are not
// records.
func TestJetStreamGauges_DeadLetters(t *testing.T) {
	js, ctx := setupJetStream(t)
	subject, err := bus.WebhookSubject("3B6XIW-ZTS923-GEAY6V")
	require.NoError(t, err)
	for range 2 {
		_, err := js.Publish(ctx, subject, []byte(`{}`))
		require.NoError(t, err)
	}
	cons, err := js.Consumer(ctx, bus.StreamWebhooks, bus.ConsumerAnalyzer)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- bus.Run(runCtx, cons, bus.WorkerOptions{
			Handler: func(context.Context, jetstream.Msg) error {
				return bus.Permanent("unknown_instance", errors.New("no such instance"))
			},
			Settler: bus.Settler{JS: js}, MaxWait: 100 * time.Millisecond,
		})
	}()
	m := metrics.New()
	m.WatchJetStream(js, 1, watched)
	require.Eventually(t, func() bool {
		s, _ := scrape(t, m.Handler())
		return s[`mediapipe_deadletter_messages{stream="WEBHOOKS"}`] == "2"
	}, 20*time.Second, 50*time.Millisecond)
	stop()
	require.NoError(t, <-done)

	recs, err := bus.ListDeadLetters(ctx, js, bus.DeadLetterFilter{})
	require.NoError(t, err)
	require.NoError(t, bus.MarkReplayed(ctx, js, bus.Replay{Seq: recs[0].Seq}))
	s, _ := scrape(t, m.Handler())
	require.Equal(t, "2", s[`mediapipe_deadletter_messages{stream="WEBHOOKS"}`])
	require.Equal(t, "0", s[`mediapipe_deadletter_messages{stream="DOWNLOADS"}`])
	require.Equal(t, "0", s[`mediapipe_consumer_pending_messages{consumer="analyzer",stream="WEBHOOKS"}`])
}

// TestJetStreamGauges_Failures checks that failed reads are counted and
// flip mediapipe_jetstream_up instead of silently dropping series: a
// consumer not declared, then NATS gone. The scrape still answers 200.
func TestJetStreamGauges_Failures(t *testing.T) {
	url, srv := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	m := metrics.New()
	m.WatchJetStream(js, 1, map[string]string{bus.ConsumerAnalyzer: bus.StreamWebhooks})

	s, _ := scrape(t, m.Handler()) // no streams declared yet
	require.Equal(t, "1", s["mediapipe_jetstream_reporter"])
	require.Equal(t, "0", s["mediapipe_jetstream_up"])
	require.Equal(t, "1", s[`mediapipe_jetstream_read_errors_total{read="consumer"}`])
	require.Equal(t, "1", s[`mediapipe_jetstream_read_errors_total{read="deadletter"}`])

	srv.Shutdown()
	srv.WaitForShutdown()
	start := time.Now()
	s, families := scrape(t, m.Handler())
	require.Less(t, time.Since(start), 5*time.Second, "a scrape does not hang on NATS")
	require.Equal(t, "0", s["mediapipe_jetstream_up"])
	require.Equal(t, "0", s["mediapipe_jetstream_reporter"])
	require.Equal(t, "1", s[`mediapipe_jetstream_read_errors_total{read="lease"}`])
	require.Empty(t, consumerSeries(s))
	require.Equal(t, "gauge", families["go_goroutines"])
}

// TestBuildInfo checks mediapipe_build_info names this binary's Go release.
func TestBuildInfo(t *testing.T) {
	b := metrics.ReadBuildInfo()
	require.Equal(t, runtime.Version(), b.GoVersion)
	require.NotEmpty(t, b.Version)
	s, _ := scrape(t, metrics.New().Handler())
	var found bool
	for k, v := range s {
		if strings.HasPrefix(k, "mediapipe_build_info{") {
			found = true
			require.Equal(t, "1", v)
			require.Contains(t, k, `go_version="`+runtime.Version()+`"`)
			require.Contains(t, k, `version="`+b.Version+`"`)
		}
	}
	require.True(t, found, "mediapipe_build_info exported")
}
