package deliver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/catalogtest"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/events/deliver"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

type testBundle struct {
	ctx   context.Context
	store *catalog.Store
	op    *catalog.Operator
	js    jetstream.JetStream
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		tt.Parallel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	store, _ := pgtest.NewStore(t)
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(ctx, js, bus.Topology{}))
	return &testBundle{ctx: ctx, store: store, op: operator.New(store), js: js}
}

// cliente registers a cliente with one instance and, when url is not
// empty, a callback endpoint for types (every media type when nil). It
// returns the cliente id, the instance and the endpoint's secret.
func (b *testBundle) cliente(t testing.TB, name, url string, types []string) (int64, string, string) {
	t.Helper()
	res, err := b.op.Register(b.ctx, name, name+"-1", "wapi-token")
	require.NoError(t, err)
	if url == "" {
		return res.ClienteID, res.InstanceID, ""
	}
	if types == nil {
		types = events.MediaTypes
	}
	set, err := b.op.SetCallback(b.ctx, name, url, types)
	require.NoError(t, err)
	return res.ClienteID, res.InstanceID, set.Secret
}

// finals records n media items of instance and gives item i the final
// status statuses[i%len(statuses)]; it returns the ids by status.
func (b *testBundle) finals(t testing.TB, instance string, n int, statuses ...string) map[string][]int64 {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []string{catalog.StatusSuccess}
	}
	msgs := make([]catalog.Message, n)
	descs := make([]wamedia.Descriptor, n)
	for i := range n {
		descs[i] = catalogtest.Descriptor(wamedia.Image)
		msgs[i] = catalogtest.Message(instance, "5511999990000", descs[i])
	}
	rec, err := b.store.RecordMessages(b.ctx, msgs)
	require.NoError(t, err)
	out := map[string][]int64{}
	for i, r := range rec {
		st := statuses[i%len(statuses)]
		switch st {
		case catalog.StatusSuccess:
			require.NoError(t, b.store.Succeed(b.ctx, r.MediaID, catalog.Stored{Path: "p/" + strconv.FormatInt(r.MediaID, 10), Size: 10, SHA256: descs[i].FileSHA256}))
		case catalog.StatusFailed:
			require.NoError(t, b.store.Fail(b.ctx, r.MediaID, st, "http_404"))
		default:
			require.NoError(t, b.store.Fail(b.ctx, r.MediaID, st, "media_expired"))
		}
		out[st] = append(out[st], r.MediaID)
	}
	return out
}

// run starts the relay and a deliverer until the test ends.
func (b *testBundle) run(t testing.TB, opts deliver.Options, concurrency int) *deliver.Deliverer {
	t.Helper()
	if opts.Log == nil {
		opts.Log = zaptest.NewLogger(t)
	}
	opts.AllowPrivate = true
	d := deliver.New(b.store, opts)
	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	relay := &events.Relay{Outbox: b.store, JS: b.js, Poll: 100 * time.Millisecond, Log: opts.Log}
	wg.Go(func() { _ = relay.Run(ctx) })
	cons, err := b.js.Consumer(b.ctx, bus.StreamEvents, bus.ConsumerDeliverer)
	require.NoError(t, err)
	wg.Go(func() {
		err := bus.Run(ctx, cons, bus.WorkerOptions{
			Handler: d.Handle, Concurrency: concurrency, MaxWait: time.Second, StopTimeout: 5 * time.Second,
			Settler: bus.Settler{JS: b.js, BackoffBase: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond, Describe: deliver.Describe},
			Logger:  opts.Log,
		})
		if err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return d
}

// post is one request a receiver took.
type post struct {
	ID, Type  string
	MediaID   int64
	Timestamp string
	Verified  bool
	At        time.Time
	Body      []byte
}

// receiver is a cliente's endpoint on loopback: it verifies every post with
// the Standard Webhooks reference library (not the project's signer), keeps
// it, and answers what answer says (200 when nil).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	posts  []post
	wh     *standardwebhooks.Webhook
	answer func(w http.ResponseWriter, p post, n int) bool // true: answered
}

func newReceiver(t testing.TB, answer func(w http.ResponseWriter, p post, n int) bool) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

// verifyWith sets the secret posts are verified with.
func (rc *receiver) verifyWith(t testing.TB, secret string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	rc.mu.Lock()
	rc.wh = wh
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var doc struct {
		Type string `json:"type"`
		Data struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &doc)
	p := post{ID: r.Header.Get("webhook-id"), Type: doc.Type, MediaID: doc.Data.ID, Timestamp: r.Header.Get("webhook-timestamp"), At: time.Now(), Body: body}
	rc.mu.Lock()
	if rc.wh != nil {
		p.Verified = rc.wh.Verify(body, r.Header) == nil
	}
	rc.posts = append(rc.posts, p)
	n := len(rc.posts)
	answer := rc.answer
	rc.mu.Unlock()
	if answer != nil && answer(w, p, n) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// always answers every post with code.
func always(code int) func(http.ResponseWriter, post, int) bool {
	return func(w http.ResponseWriter, _ post, _ int) bool {
		w.WriteHeader(code)
		return true
	}
}

func (rc *receiver) all() []post {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]post(nil), rc.posts...)
}

// ids returns the posts by webhook-id (the last of each): the receiver's
// idempotent view.
func (rc *receiver) ids() map[string]post {
	out := map[string]post{}
	for _, p := range rc.all() {
		out[p.ID] = p
	}
	return out
}

// eventTime reads the timestamp of an event body.
func eventTime(body []byte) time.Time {
	var doc struct {
		Timestamp time.Time `json:"timestamp"`
	}
	_ = json.Unmarshal(body, &doc)
	return doc.Timestamp
}

// quietLog is a logger for benchmarks: warnings and errors only.
func quietLog() *zap.Logger {
	l, _ := zap.NewDevelopment(zap.IncreaseLevel(zap.WarnLevel))
	return l
}
