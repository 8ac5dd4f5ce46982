package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/natstest"
)

// testBundle is one test's server, connection and declared topology.
type testBundle struct {
	url string
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// testTopology keeps MaxDeliver small and AckWait short so that redelivery
// paths run in milliseconds.
func testTopology() bus.Topology {
	return bus.Topology{
		MaxAge:                  time.Hour,
		MaxBytes:                64 << 20,
		Duplicates:              time.Minute,
		AnalyzerAckWait:         2 * time.Second,
		AnalyzerMaxDeliver:      3,
		AnalyzerMaxAckPending:   1000,
		DownloaderAckWait:       2 * time.Second,
		DownloaderMaxDeliver:    3,
		DownloaderMaxAckPending: 100,
	}
}

func setup(t *testing.T, topo bus.Topology) testBundle {
	t.Helper()
	url, srv := natstest.Start(t)
	nc, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(testCtx(t), js, topo))
	return testBundle{url: url, srv: srv, nc: nc, js: js}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (b testBundle) publishWebhook(t *testing.T, instance, body string) uint64 {
	t.Helper()
	subj, err := bus.WebhookSubject(instance)
	require.NoError(t, err)
	ack, err := b.js.Publish(testCtx(t), subj, []byte(body), jetstream.WithMsgID(instance+"/"+body))
	require.NoError(t, err)
	return ack.Sequence
}

func (b testBundle) publishWebhooks(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		b.publishWebhook(t, "inst1", fmt.Sprintf("msg-%d", i))
	}
}

func (b testBundle) analyzer(t *testing.T) jetstream.Consumer {
	t.Helper()
	cons, err := b.js.Consumer(testCtx(t), bus.StreamWebhooks, bus.ConsumerAnalyzer)
	require.NoError(t, err)
	return cons
}

func (b testBundle) analyzerInfo(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	info, err := b.analyzer(t).Info(testCtx(t))
	require.NoError(t, err)
	return info
}

// fetchOne waits up to wait for one message and returns it, or nil.
func fetchOne(t *testing.T, cons jetstream.Consumer, wait time.Duration) jetstream.Msg {
	t.Helper()
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
	require.NoError(t, err)
	for m := range batch.Messages() {
		return m
	}
	return nil
}

func meta(t *testing.T, m jetstream.Msg) *jetstream.MsgMetadata {
	t.Helper()
	md, err := m.Metadata()
	require.NoError(t, err)
	return md
}

// settled reports whether the consumer has nothing pending, in flight or
// waiting for redelivery.
func settled(t *testing.T, b testBundle) func() bool {
	return func() bool {
		info := b.analyzerInfo(t)
		return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
	}
}
