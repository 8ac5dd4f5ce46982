package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/catalogtest"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestSignVerifiesWithStandardWebhooks checks the signer against the
// Standard Webhooks reference library, during a rotation too.
func TestSignVerifiesWithStandardWebhooks(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := catalog.NewCallbackSecret(), catalog.NewCallbackSecret()
	body := []byte(`{"type":"media.ready","timestamp":"2026-12-07T02:00:00Z","data":{"id":1}}`)
	now := time.Now()
	sig, err := events.Sign([]string{newSecret, oldSecret}, "evt_1", now.Unix(), body)
	require.NoError(t, err)
	require.Regexp(t, `^v1,\S+ v1,\S+$`, sig)
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, "evt_1")
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	for _, s := range []string{oldSecret, newSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(body, h), "both secrets verify during a rotation")
	}
	other, err := standardwebhooks.NewWebhook(catalog.NewCallbackSecret())
	require.NoError(t, err)
	require.Error(t, other.Verify(body, h))
	wh, _ := standardwebhooks.NewWebhook(newSecret)
	require.Error(t, wh.Verify(append(body, ' '), h), "a changed body fails")
	h.Set(standardwebhooks.HeaderWebhookID, "evt_2")
	require.Error(t, wh.Verify(body, h), "a changed id fails")

	_, err = events.Sign(nil, "evt_1", 1, body)
	require.Error(t, err)
	_, err = events.Sign([]string{"whsec_not base64!"}, "evt_1", 1, body)
	require.ErrorContains(t, err, "whsec_")
	require.NotContains(t, err.Error(), "not base64", "the secret is never repeated")
}

func TestBody(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 2, 3, 4, 500, time.UTC)
	ev := catalog.Event{ID: "evt_x", ClienteID: 3, MediaID: 42, Type: events.TypeReady, CreatedAt: at,
		Data: json.RawMessage(`{"id": 42, "sha256": "ab", "failure_reason": null}`)}
	for base, want := range map[string]string{"": "/v1/media/42", "https://m.example.com/": "https://m.example.com/v1/media/42"} {
		b, err := events.Body(ev, base)
		require.NoError(t, err)
		var doc struct {
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		require.NoError(t, json.Unmarshal(b, &doc), string(b))
		require.Equal(t, "media.ready", doc.Type)
		require.Equal(t, "2026-12-07T02:03:04.0000005Z", doc.Timestamp)
		require.Equal(t, want, doc.Data["url"])
		require.Equal(t, want+"/content", doc.Data["content_url"])
		require.EqualValues(t, 42, doc.Data["id"])
		require.Contains(t, doc.Data, "failure_reason")
	}
	ev.Data = json.RawMessage(`{}`)
	b, err := events.Body(ev, "")
	require.NoError(t, err)
	require.True(t, json.Valid(b), string(b))
	ev.Data = json.RawMessage(`[1]`)
	_, err = events.Body(ev, "")
	require.Error(t, err)

	id, ping := events.PingBody(3, at)
	require.Regexp(t, `^evt_[0-9a-f]{32}$`, id)
	require.JSONEq(t, `{"type":"ping","timestamp":"2026-12-07T02:03:04.0000005Z","data":{"cliente_id":3}}`, string(ping))
}

func TestParseMeta(t *testing.T) {
	t.Parallel()
	ev := catalog.Event{ID: "evt_x", ClienteID: 3, MediaID: 42, Type: events.TypeFailed, CreatedAt: time.Unix(1, 5).UTC(), Data: json.RawMessage(`{}`)}
	m, err := events.Message(ev, "")
	require.NoError(t, err)
	require.Equal(t, "events.media.3.failed", m.Subject)
	meta, err := events.ParseMeta(m.Header)
	require.NoError(t, err)
	require.Equal(t, events.Meta{ID: "evt_x", Type: events.TypeFailed, ClienteID: 3, Created: ev.CreatedAt}, meta)
	for _, h := range []string{events.HeaderID, events.HeaderCliente, events.HeaderCreated} {
		bad := nats.Header{}
		for k, v := range m.Header {
			bad[k] = v
		}
		bad.Set(h, "")
		_, err := events.ParseMeta(bad)
		require.ErrorIs(t, err, events.ErrMalformed, h)
	}
}

type relayBundle struct {
	ctx       context.Context
	store     *catalog.Store
	js        jetstream.JetStream
	clienteID int64
	instance  string
}

func setupRelay(t *testing.T) *relayBundle {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	store, _ := pgtest.NewStore(t)
	res, err := operator.New(store).Register(ctx, "acme", "ACME-1", "wapi-token")
	require.NoError(t, err)
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(ctx, js, bus.Topology{}))
	return &relayBundle{ctx: ctx, store: store, js: js, clienteID: res.ClienteID, instance: res.InstanceID}
}

// finals records n media items and gives each a final status in turn
// (success, failed, expired); it returns their ids.
func (b *relayBundle) finals(t *testing.T, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		d := catalogtest.Descriptor(wamedia.Image)
		rec, err := b.store.RecordMessages(b.ctx, []catalog.Message{catalogtest.Message(b.instance, "5511999990000", d)})
		require.NoError(t, err)
		id := rec[0].MediaID
		switch i % 3 {
		case 0:
			require.NoError(t, b.store.Succeed(b.ctx, id, catalog.Stored{Path: "p/" + strconv.Itoa(i), Size: 10, SHA256: d.FileSHA256}))
		case 1:
			require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusFailed, "http_404"))
		default:
			require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusExpired, "media_expired"))
		}
		ids = append(ids, id)
	}
	return ids
}

func (b *relayBundle) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	st, err := b.js.Stream(b.ctx, bus.StreamEvents)
	require.NoError(t, err)
	info, err := st.Info(b.ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

func TestRelayPublishesCommittedEvents(t *testing.T) {
	b := setupRelay(t)
	// In-cluster subscribers see the events on their subjects.
	sub, err := b.js.OrderedConsumer(b.ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.EventPrefix + "*.ready"}})
	require.NoError(t, err)

	b.finals(t, 6)
	var published int
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	relay := &events.Relay{Outbox: b.store, JS: b.js, APIBase: "https://api.example", Batch: 4, Poll: 50 * time.Millisecond,
		Published: func(n int) { published += n }}
	go func() { done <- relay.Run(ctx) }()
	require.Eventually(t, func() bool { return b.streamMsgs(t) == 6 }, 20*time.Second, 20*time.Millisecond)

	// A new final status is published at once (the notification wakes it).
	b.finals(t, 1)
	require.Eventually(t, func() bool { return b.streamMsgs(t) == 7 }, 20*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 7, published)
	n, err := b.store.UnpublishedEvents(b.ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	batch, err := sub.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	require.NoError(t, err)
	var ready int
	for m := range batch.Messages() {
		ready++
		meta, err := events.ParseMeta(m.Headers())
		require.NoError(t, err)
		require.Equal(t, events.TypeReady, meta.Type)
		require.Equal(t, meta.ID, m.Headers().Get(jetstream.MsgIDHeader), "dedup by the event id")
		var doc map[string]any
		require.NoError(t, json.Unmarshal(m.Data(), &doc))
		require.Equal(t, "media.ready", doc["type"])
		require.Contains(t, doc["data"].(map[string]any)["url"], "https://api.example/v1/media/")
	}
	require.Equal(t, 3, ready)

	// Publishing the same events again (a relay killed before its mark)
	// stores nothing new: the message id is the event id.
	evs, err := operator.New(b.store).EventsSince(b.ctx, b.clienteID, time.Time{}, 0, 100)
	require.NoError(t, err)
	for _, ev := range evs {
		m, err := events.Message(ev, "")
		require.NoError(t, err)
		_, err = b.js.PublishMsg(b.ctx, m, jetstream.WithMsgID(ev.ID))
		require.NoError(t, err)
	}
	require.EqualValues(t, 7, b.streamMsgs(t))

	// Replay re-sends them with fresh message ids and the same event ids.
	sent, err := events.Replay(b.ctx, b.js, operator.New(b.store), b.clienteID, time.Now().Add(-time.Hour), "")
	require.NoError(t, err)
	require.Equal(t, 7, sent)
	require.EqualValues(t, 14, b.streamMsgs(t))
}

func TestRelayKeepsEventsWhileNATSIsAway(t *testing.T) {
	b := setupRelay(t)
	b.finals(t, 3)
	// No stream to take them: nothing is marked.
	require.NoError(t, b.js.DeleteStream(b.ctx, bus.StreamEvents))
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	relay := &events.Relay{Outbox: b.store, JS: b.js, Poll: 20 * time.Millisecond}
	go func() { done <- relay.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	n, err := b.store.UnpublishedEvents(b.ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	require.NoError(t, bus.Setup(b.ctx, b.js, bus.Topology{}))
	require.Eventually(t, func() bool { return b.streamMsgs(t) == 3 }, 30*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}
