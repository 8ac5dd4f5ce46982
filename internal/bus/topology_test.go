package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/natstest"
)

func TestSetupIsIdempotentAndUpdates(t *testing.T) {
	t.Parallel()
	topo := testTopology()
	b := setup(t, topo)
	ctx := testCtx(t)
	seq := b.publishWebhook(t, "inst1", "kept across setups")

	require.NoError(t, bus.Setup(ctx, b.js, topo))

	topo.MaxAge = 2 * time.Hour
	topo.AnalyzerMaxDeliver = 7
	require.NoError(t, bus.Setup(ctx, b.js, topo))

	for _, name := range []string{bus.StreamWebhooks, bus.StreamDownloads, bus.StreamDeadLetter, bus.StreamEvents} {
		st, err := b.js.Stream(ctx, name)
		require.NoError(t, err)
		info, err := st.Info(ctx)
		require.NoError(t, err)
		cfg := info.Config
		require.Equal(t, 2*time.Hour, cfg.MaxAge, name)
		require.Equal(t, jetstream.LimitsPolicy, cfg.Retention, name)
		require.Equal(t, jetstream.DiscardNew, cfg.Discard, name)
		require.Equal(t, jetstream.FileStorage, cfg.Storage, name)
		require.Equal(t, time.Minute, cfg.Duplicates, name)
	}
	info := b.analyzerInfo(t)
	require.Equal(t, 7, info.Config.MaxDeliver)
	require.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
	require.Equal(t, uint64(1), info.NumPending, "updating must not lose messages")

	m := fetchOne(t, b.analyzer(t), 2*time.Second)
	require.NotNil(t, m)
	require.Equal(t, seq, meta(t, m).Sequence.Stream)
	require.Equal(t, "webhooks.wapi.inst1", m.Subject())

	cons, err := b.js.Consumer(ctx, bus.StreamDownloads, bus.ConsumerDownloader)
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, cons.CachedInfo().Config.AckWait)
	require.Equal(t, 3, cons.CachedInfo().Config.MaxDeliver)

	// The downloader's default is unlimited deliveries (it enforces its own
	// retry horizon); an existing consumer with a bound is updated to it.
	topo.DownloaderMaxDeliver = 0
	require.NoError(t, bus.Setup(ctx, b.js, topo))
	cons, err = b.js.Consumer(ctx, bus.StreamDownloads, bus.ConsumerDownloader)
	require.NoError(t, err)
	require.Equal(t, -1, cons.CachedInfo().Config.MaxDeliver)
}

func TestFullStreamRefusesPublishes(t *testing.T) {
	t.Parallel()
	topo := testTopology()
	topo.MaxBytes = 4 << 10
	b := setup(t, topo)
	ctx := testCtx(t)
	subj, err := bus.WebhookSubject("inst1")
	require.NoError(t, err)
	body := bytes.Repeat([]byte("x"), 1000)

	var pubErr error
	for i := 0; i < 10 && pubErr == nil; i++ {
		_, pubErr = b.js.Publish(ctx, subj, body, jetstream.WithMsgID(strconv.Itoa(i)))
	}
	require.Error(t, pubErr, "a full stream must refuse new messages")
	var apiErr *jetstream.APIError
	require.ErrorAs(t, pubErr, &apiErr)
	require.Equal(t, 503, apiErr.Code, "maximum bytes exceeded")

	st, err := b.js.Stream(ctx, bus.StreamWebhooks)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.FirstSeq, "DiscardNew keeps the oldest messages")
	require.LessOrEqual(t, info.State.Bytes, uint64(4<<10))
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := testCtx(t)
	subj := bus.DownloadSubject("image")

	first, err := b.js.Publish(ctx, subj, []byte("job"), jetstream.WithMsgID("media-1"))
	require.NoError(t, err)
	second, err := b.js.Publish(ctx, subj, []byte("job"), jetstream.WithMsgID("media-1"))
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	require.True(t, second.Duplicate)
	require.Equal(t, first.Sequence, second.Sequence)

	third, err := b.js.Publish(ctx, subj, []byte("job"), jetstream.WithMsgID("media-2"))
	require.NoError(t, err)
	require.False(t, third.Duplicate)

	st, err := b.js.Stream(ctx, bus.StreamDownloads)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), info.State.Msgs)
}

func TestWebhookSubject(t *testing.T) {
	t.Parallel()
	subj, err := bus.WebhookSubject("3B7F-XYZ_01")
	require.NoError(t, err)
	require.Equal(t, "webhooks.wapi.3B7F-XYZ_01", subj)
	for _, bad := range []string{"", "a.b", "a*", ">", "a b", "a\tb", "a\nb", "a\u00a0b", "a\x00b"} {
		_, err := bus.WebhookSubject(bad)
		require.ErrorIs(t, err, bus.ErrBadInstanceID, "%q", bad)
	}
}

func TestEventSubject(t *testing.T) {
	t.Parallel()
	require.Equal(t, "events.media.42.ready", bus.EventSubject(42, "ready"))
	require.Equal(t, "events.media.7.a_b_", bus.EventSubject(7, "a.b*"))
	cfg := bus.DefaultTopology().ConsumerConfigs()[bus.StreamEvents]
	require.Equal(t, bus.ConsumerDeliverer, cfg.Durable)
	require.Equal(t, -1, cfg.MaxDeliver, "the deliverer enforces its own retry horizon")
	require.Equal(t, 2*time.Minute, cfg.AckWait)
}

func TestDownloadSubject(t *testing.T) {
	t.Parallel()
	require.Equal(t, "media.download.image", bus.DownloadSubject("image"))
	require.Equal(t, "media.download.unknown", bus.DownloadSubject(""))
	require.Equal(t, "media.download.a_b__c", bus.DownloadSubject("a.b *c"))
}

func TestStartEmbeddedOnAFixedPort(t *testing.T) {
	t.Parallel()
	port := freePort(t)

	srv, url, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Port: port})
	require.NoError(t, err)
	defer bus.ShutdownEmbedded(srv)
	require.True(t, strings.HasSuffix(url, ":"+strconv.Itoa(port)), url)
	require.True(t, srv.JetStreamEnabled())

	_, _, err = bus.StartEmbedded(bus.EmbeddedOptions{})
	require.Error(t, err, "a store directory is required")
}

func TestConnectSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	url, srv := natstest.Start(t)
	nc, js := natstest.Connect(t, url)
	ctx := testCtx(t)
	require.NoError(t, bus.Setup(ctx, js, testTopology()))
	subj, err := bus.WebhookSubject("inst1")
	require.NoError(t, err)
	_, err = js.Publish(ctx, subj, []byte("before"))
	require.NoError(t, err)

	natstest.Restart(t, srv)

	// A publish written before the client noticed the old server was gone
	// is lost, so each attempt gets a short deadline and the same msg id.
	var ack *jetstream.PubAck
	require.Eventually(t, func() bool {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		defer acancel()
		ack, err = js.Publish(actx, subj, []byte("after"), jetstream.WithMsgID("after"))
		return err == nil
	}, 15*time.Second, 10*time.Millisecond, "client must reconnect")
	require.True(t, nc.IsConnected())
	require.Equal(t, uint64(2), ack.Sequence, "the stored message must survive the restart")
}

func TestSetupRefusedConfigurationFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	topo := testTopology()
	topo.Replicas = 3 // a single server cannot place three replicas: not a settling cluster
	start := time.Now()
	err := bus.Setup(testCtx(t), b.js, topo)
	require.Error(t, err)
	require.False(t, bus.SetupRetryable(err), "%v", err)
	require.Less(t, time.Since(start), 5*time.Second, "a refused configuration is not retried")
}

func TestSetupRetryableErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&jetstream.APIError{ErrorCode: 10008, Code: 503, Description: "JetStream system temporarily unavailable"}, true},
		{fmt.Errorf("declaring stream X: %w", &jetstream.APIError{ErrorCode: 10005, Description: "no suitable peers for placement"}), true},
		{&jetstream.APIError{ErrorCode: 10058, Description: "stream name already in use with a different configuration"}, false},
		{fmt.Errorf("declaring: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("declaring: %w", nats.ErrNoResponders), true},
		{errors.New("some other error"), false},
	} {
		require.Equal(t, c.want, bus.SetupRetryable(c.err), "%v", c.err)
	}
}

func TestSetupWaitsForJetStreamToAnswer(t *testing.T) {
	t.Parallel()
	// A server without JetStream yet answers nothing on $JS.API: Setup keeps
	// trying until its context ends, and says it waited.
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(5*time.Second))
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err = bus.Setup(ctx, js, testTopology())
	require.Error(t, err)
	require.Contains(t, err.Error(), "attempts")
}
