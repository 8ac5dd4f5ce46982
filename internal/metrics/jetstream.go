package metrics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/multichat/mediapipe/internal/bus"
)

// The JetStream gauges (consumer backlog, dead-letter depth) describe the
// cluster, not the process: every pod reads the same numbers. So that a
// sum() over pods cannot multiply them, only one process exports them: the
// holder of a lease, a key in a JetStream key-value bucket that the process
// creates when absent and renews at each scrape. A holder that stops being
// scraped (or dies) loses the lease after leaseTTL and the next process
// scraped takes it over. Every process exports whether it holds the lease
// (mediapipe_jetstream_reporter) and whether its last reads of JetStream
// succeeded (mediapipe_jetstream_up, mediapipe_jetstream_read_errors_total),
// so a JetStream outage shows as such instead of as missing series.
const (
	leaseBucket = "mediapipe_metrics"
	leaseKey    = "jetstream-reporter"
)

// leaseTTL is how long the lease outlives its last renewal: longer than any
// sensible scrape interval, so a scraped holder keeps it.
var leaseTTL = 2 * time.Minute

// readTimeout bounds the JetStream reads of one scrape.
const readTimeout = 2 * time.Second

var (
	pendingDesc = prometheus.NewDesc("mediapipe_consumer_pending_messages",
		"Messages in the stream not yet delivered to the consumer. Exported by one process only (mediapipe_jetstream_reporter).",
		[]string{"stream", "consumer"}, nil)
	ackPendingDesc = prometheus.NewDesc("mediapipe_consumer_ack_pending_messages",
		"Messages delivered to the consumer and not yet acknowledged. Exported by one process only (mediapipe_jetstream_reporter).",
		[]string{"stream", "consumer"}, nil)
	deadLetterDesc = prometheus.NewDesc("mediapipe_deadletter_messages",
		"Dead-letter records kept (DEADLETTER stream), by the stream the failed message came from. Exported by one process only (mediapipe_jetstream_reporter).",
		[]string{"stream"}, nil)
	reporterDesc = prometheus.NewDesc("mediapipe_jetstream_reporter",
		"1 when this process holds the lease to export the JetStream gauges (consumer backlog, dead letters), 0 otherwise.",
		nil, nil)
	upDesc = prometheus.NewDesc("mediapipe_jetstream_up",
		"1 when every JetStream read of the last scrape succeeded (lease, consumers, dead letters), 0 when one failed (mediapipe_jetstream_read_errors_total says which).",
		nil, nil)
)

// WatchJetStream exports, read from JetStream at scrape time, the backlog of
// the named consumers (consumer name to stream name) and the dead-letter
// records per stream, from one process of the deployment at a time (see
// leaseBucket). replicas is the lease bucket's replica count: the streams'.
func (m *Metrics) WatchJetStream(js jetstream.JetStream, replicas int, consumers map[string]string) {
	streams := make([]string, 0, len(consumers))
	for _, s := range consumers {
		if !slices.Contains(streams, s) {
			streams = append(streams, s)
		}
	}
	m.register(&jetStreamCollector{
		js: js, replicas: max(replicas, 1), consumers: consumers, streams: streams, holder: holderName(),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediapipe_jetstream_read_errors_total",
			Help: "JetStream reads of a scrape that failed, by what was read (lease, consumer, deadletter); the gauges of a failed read are missing from that scrape.",
		}, []string{"read"}),
	})
}

type jetStreamCollector struct {
	js        jetstream.JetStream
	replicas  int
	consumers map[string]string // consumer -> stream
	streams   []string          // the consumers' streams: their dead letters are exported even when zero
	holder    string            // the lease's value: who holds it, for an operator reading the bucket
	errors    *prometheus.CounterVec

	mu  sync.Mutex // one scrape at a time uses the lease
	kv  jetstream.KeyValue
	rev uint64 // the lease's revision while held
}

func (c *jetStreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- ackPendingDesc
	ch <- deadLetterDesc
	ch <- reporterDesc
	ch <- upDesc
	c.errors.Describe(ch)
}

func (c *jetStreamCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	up := 1.0
	failed := func(read string) {
		up = 0
		c.errors.WithLabelValues(read).Inc()
	}
	held, err := c.lease(ctx)
	if err != nil {
		failed("lease")
	}
	if held {
		for consumer, stream := range c.consumers {
			info, err := c.consumerInfo(ctx, stream, consumer)
			if err != nil {
				failed("consumer")
				continue
			}
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(info.NumPending), stream, consumer)
			ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(info.NumAckPending), stream, consumer)
		}
		if depth, err := c.deadLetters(ctx); err != nil {
			failed("deadletter")
		} else {
			for stream, n := range depth {
				ch <- prometheus.MustNewConstMetric(deadLetterDesc, prometheus.GaugeValue, float64(n), stream)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(reporterDesc, prometheus.GaugeValue, boolValue(held))
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	c.errors.Collect(ch)
}

// lease takes or renews the reporter lease and says whether this process
// holds it. A lease held by another process is not an error.
func (c *jetStreamCollector) lease(ctx context.Context) (bool, error) {
	if c.kv == nil {
		kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      leaseBucket,
			Description: "which mediapipe process exports the JetStream gauges",
			TTL:         leaseTTL,
			History:     1,
			Replicas:    c.replicas,
		})
		if err != nil {
			return false, err
		}
		c.kv = kv
	}
	if c.rev != 0 {
		rev, err := c.kv.Update(ctx, leaseKey, []byte(c.holder), c.rev)
		if err == nil {
			c.rev = rev
			return true, nil
		}
		c.rev = 0
		if !errors.Is(err, jetstream.ErrKeyExists) { // not a lost race: JetStream failed
			return false, err
		}
	}
	rev, err := c.kv.Create(ctx, leaseKey, []byte(c.holder))
	switch {
	case err == nil:
		c.rev = rev
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	default:
		return false, err
	}
}

func (c *jetStreamCollector) consumerInfo(ctx context.Context, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	cons, err := c.js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// deadLetterPrefix starts the subject of a dead-letter record,
// deadletter.<stream> (package bus; TestJetStreamGauges publishes real
// records through bus).
const deadLetterPrefix = "deadletter."

// deadLetters counts the dead-letter records by the stream they came from,
// leaving out the replay marks.
func (c *jetStreamCollector) deadLetters(ctx context.Context) (map[string]uint64, error) {
	s, err := c.js.Stream(ctx, bus.StreamDeadLetter)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(deadLetterPrefix+">"))
	if err != nil {
		return nil, err
	}
	depth := make(map[string]uint64, len(c.streams))
	for _, stream := range c.streams {
		depth[stream] = 0
	}
	for subject, n := range info.State.Subjects {
		stream, ok := strings.CutPrefix(subject, deadLetterPrefix)
		if ok && stream != "" && !strings.HasPrefix(stream, "_") { // deadletter._replayed holds replay marks
			depth[stream] += n
		}
	}
	return depth, nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// holderName names this process in the lease: host name (the pod's) and a
// random suffix, as two processes may share a host.
func holderName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return strings.ReplaceAll(host, " ", "_") + "-" + hex.EncodeToString(b[:])
}
