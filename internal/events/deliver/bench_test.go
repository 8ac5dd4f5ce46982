package deliver_test

import (
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/catalogtest"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/events/deliver"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// BenchmarkDeliver measures deliveries to a loopback receiver: b.N events
// are first published to EVENTS (as the relay does), then one deliverer
// (bus.Run, 256 handlers, 16 posts at once per endpoint, the receiver
// verifying nothing and answering 204) drains them; events/s is b.N over
// the time from its start to the last 2xx. Four clientes share the events.
// The machine may be shared: cpu-µs/event (deliverer, NATS server and
// receiver together, all in this process) and events/s-at-2-cores (two
// cores' worth of CPU time over it) do not depend on what else runs.
func BenchmarkDeliver(b *testing.B) {
	bb := setup(b)
	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	rc := newReceiver(b, func(w http.ResponseWriter, _ post, _ int) bool {
		if got.Add(1) == n {
			close(done)
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	})
	var clientes []int64
	for i := range 4 {
		id, _, _ := bb.cliente(b, "c"+strconv.Itoa(i), rc.URL, nil)
		clientes = append(clientes, id)
	}
	futures := make([]jetstream.PubAckFuture, 0, b.N)
	for i := range b.N {
		ev := catalog.Event{ID: events.NewID(), ClienteID: clientes[i%len(clientes)], MediaID: int64(i + 1), Type: events.TypeReady,
			CreatedAt: time.Now(), Data: []byte(`{"id":` + strconv.Itoa(i+1) + `,"type":"image","mimetype":"image/jpeg","size":7104,"sha256":"7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730"}`)}
		m, err := events.Message(ev, "https://api.example.com")
		require.NoError(b, err)
		f, err := bb.js.PublishMsgAsync(m, jetstream.WithMsgID(ev.ID))
		require.NoError(b, err)
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime(b)
	bb.run(b, deliver.Options{Log: quietLog()}, 256)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d events delivered", got.Load(), b.N)
	}
	perEvent := float64((cpuTime(b) - cpu).Microseconds()) / float64(b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(perEvent, "cpu-µs/event")
	b.ReportMetric(2e6/perEvent, "events/s-at-2-cores")
}

// cpuTime is the CPU time (user + system) of this process so far: the
// deliverer, the NATS server and the receiver all run in it.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommitToDelivery measures the delay from an event's commit to
// its endpoint's 2xx while final statuses are committed at a steady rate
// (MEDIAPIPE_EVENT_RATE per second, default 500; b.N rows, one transaction
// each, as the downloaders write them), through the whole chain: trigger,
// notification, relay, EVENTS, deliverer, loopback receiver. The delay is
// taken from the event's timestamp (clock_timestamp() in the committing
// transaction) to the receiver's arrival.
func BenchmarkCommitToDelivery(b *testing.B) {
	rate := 500
	if s := os.Getenv("MEDIAPIPE_EVENT_RATE"); s != "" {
		var err error
		rate, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	bb := setup(b)
	delays := make(chan time.Duration, b.N)
	rc := newReceiver(b, func(w http.ResponseWriter, p post, _ int) bool {
		at := p.At
		ts := eventTime(p.Body)
		delays <- at.Sub(ts)
		w.WriteHeader(http.StatusNoContent)
		return true
	})
	_, instance, _ := bb.cliente(b, "acme", rc.URL, nil)
	// The rows exist, pending, before the clock starts.
	ids := make([]int64, 0, b.N)
	descs := make([]wamedia.Descriptor, 0, b.N)
	for len(ids) < b.N {
		var msgs []catalog.Message
		for range min(256, b.N-len(ids)) {
			d := catalogtest.Descriptor(wamedia.Image)
			descs = append(descs, d)
			msgs = append(msgs, catalogtest.Message(instance, "5511999990000", d))
		}
		rec, err := bb.store.RecordMessages(bb.ctx, msgs)
		require.NoError(b, err)
		for _, r := range rec {
			ids = append(ids, r.MediaID)
		}
	}
	bb.run(b, deliver.Options{Log: quietLog()}, 256)
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	perTick := max(rate/100, 1)
	sem := make(chan struct{}, 64)
	errs := make(chan error, b.N)
	start := time.Now()
	for i := 0; i < len(ids); {
		<-tick.C
		for j := 0; j < perTick && i < len(ids); j++ {
			id, d := ids[i], descs[i]
			i++
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				errs <- bb.store.Succeed(bb.ctx, id, catalog.Stored{Path: "p/" + strconv.FormatInt(id, 10), Size: 7104, SHA256: d.FileSHA256})
			}()
		}
	}
	for range cap(sem) {
		sem <- struct{}{} // every commit returned
	}
	committed := time.Since(start)
	all := make([]time.Duration, 0, b.N)
	timeout := time.After(2 * time.Minute)
	for len(all) < b.N {
		select {
		case d := <-delays:
			all = append(all, d)
		case <-timeout:
			b.Fatalf("only %d of %d events delivered", len(all), b.N)
		}
	}
	b.StopTimer()
	for range b.N {
		require.NoError(b, <-errs)
	}
	slices.Sort(all)
	q := func(p float64) float64 { return all[min(len(all)-1, int(p*float64(len(all))))].Seconds() * 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(all[len(all)-1].Seconds()*1000, "max-ms")
	b.ReportMetric(float64(b.N)/committed.Seconds(), "commits/s")
}
