package analyzer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/analyzer"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// The two instances of the samples in pkg/wapi/testdata.
const (
	pro  = "3B6XIW-ZTS923-GEAY6V"
	lite = "LITE-8NDQT1-UWX43P"
)

type testBundle struct {
	ctx     context.Context // ends with the test
	store   *catalog.Store
	dbURL   string
	natsURL string
	js      jetstream.JetStream
	an      *analyzer.Analyzer
	cliente map[string]int64 // instance → cliente id
}

// testTopology exhausts a message after a few deliveries; tests that need
// the server to redeliver soon shorten AckWait.
func testTopology() bus.Topology {
	return bus.Topology{
		MaxAge:                  time.Hour,
		MaxBytes:                256 << 20,
		Duplicates:              time.Minute,
		AnalyzerAckWait:         30 * time.Second,
		AnalyzerMaxDeliver:      5,
		AnalyzerMaxAckPending:   10_000,
		DownloaderAckWait:       time.Minute,
		DownloaderMaxDeliver:    3,
		DownloaderMaxAckPending: 1_000,
	}
}

func setup(t testing.TB, topo bus.Topology) *testBundle {
	t.Helper()
	store, dbURL := pgtest.NewStore(t)
	ctx := testCtx(t)
	b := &testBundle{ctx: ctx, store: store, dbURL: dbURL, cliente: map[string]int64{}}
	for i, inst := range []string{pro, lite} {
		res, err := operator.New(store).Register(ctx, fmt.Sprintf("cliente %d", i), inst, "wapi-token")
		require.NoError(t, err)
		b.cliente[inst] = res.ClienteID
	}
	b.natsURL, _ = natstest.Start(t)
	_, b.js = natstest.Connect(t, b.natsURL)
	require.NoError(t, bus.Setup(ctx, b.js, topo))
	b.an = &analyzer.Analyzer{Store: store, JS: b.js, Log: logger(t)}
	return b
}

func logger(t testing.TB) *zap.Logger {
	if _, ok := t.(*testing.B); ok {
		return zap.NewNop()
	}
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (b *testBundle) settler() bus.Settler {
	return bus.Settler{JS: b.js, MaxDeliver: testTopology().AnalyzerMaxDeliver,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "pkg", "wapi", "testdata", name))
	require.NoError(t, err)
	return body
}

// withMessageID returns body with its (first, top-level) messageId replaced.
func withMessageID(t testing.TB, body []byte, id string) []byte {
	t.Helper()
	const key = `"messageId": "`
	i := bytes.Index(body, []byte(key))
	require.GreaterOrEqual(t, i, 0, "the sample has no messageId")
	i += len(key)
	j := bytes.IndexByte(body[i:], '"')
	return slices.Concat(body[:i], []byte(id), body[i+j:])
}

// publish stores body on the instance's webhook subject with its own
// Nats-Msg-Id, as the ingest would, and returns its stream sequence.
func (b *testBundle) publish(t testing.TB, instance string, body []byte, msgID string) uint64 {
	t.Helper()
	subj, err := bus.WebhookSubject(instance)
	require.NoError(t, err)
	ack, err := b.js.Publish(b.ctx, subj, body, jetstream.WithMsgID(msgID))
	require.NoError(t, err)
	require.False(t, ack.Duplicate, "msg id %s", msgID)
	return ack.Sequence
}

func (b *testBundle) consumer(t testing.TB) jetstream.Consumer {
	t.Helper()
	cons, err := b.js.Consumer(b.ctx, bus.StreamWebhooks, bus.ConsumerAnalyzer)
	require.NoError(t, err)
	return cons
}

// fetch returns the next n messages of the analyzer consumer, waiting up to
// 10 s for them.
func (b *testBundle) fetch(t testing.TB, n int) []jetstream.Msg {
	t.Helper()
	cons := b.consumer(t)
	var msgs []jetstream.Msg
	deadline := time.Now().Add(10 * time.Second)
	for len(msgs) < n && time.Now().Before(deadline) {
		batch, err := cons.Fetch(n-len(msgs), jetstream.FetchMaxWait(time.Until(deadline)))
		require.NoError(t, err)
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
	}
	require.Len(t, msgs, n)
	return msgs
}

// handle runs the analyzer on msgs and settles each message as bus.Run does.
func (b *testBundle) handle(t testing.TB, msgs []jetstream.Msg) []error {
	t.Helper()
	ctx := b.ctx
	errs := b.an.HandleBatch(ctx, msgs)
	require.Len(t, errs, len(msgs))
	for i, m := range msgs {
		require.NoError(t, bus.Settle(ctx, m, errs[i], b.settler()))
	}
	return errs
}

func (b *testBundle) consumerInfo(t testing.TB) *jetstream.ConsumerInfo {
	t.Helper()
	info, err := b.consumer(t).Info(b.ctx)
	require.NoError(t, err)
	return info
}

// settled reports whether the analyzer consumer has nothing left to deliver,
// nothing in flight and nothing waiting for redelivery.
func (b *testBundle) settled(t testing.TB) func() bool {
	return func() bool {
		info := b.consumerInfo(t)
		return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
	}
}

type row struct {
	ID        int64
	Instance  string
	MessageID string
	Cliente   int64
	Type      string
	Kind      string
	Event     string
	Status    string
	Reason    string
	Group     bool
	FromMe    bool
	PTT       bool
	ViewOnce  bool
	Ephemeral bool
}

// rows returns every media row by "instance/message id".
func (b *testBundle) rows(t testing.TB) map[string]row {
	t.Helper()
	r, err := pgtest.DB(t, b.store).Query(b.ctx, `SELECT id, instance_id, message_id, cliente_id, media_type,
		coalesce(message_kind, ''), coalesce(event, ''), download_status, coalesce(failure_reason, ''),
		is_group, from_me, is_ptt, is_view_once, is_ephemeral
		FROM media_files`)
	require.NoError(t, err)
	defer r.Close()
	out := map[string]row{}
	for r.Next() {
		var x row
		require.NoError(t, r.Scan(&x.ID, &x.Instance, &x.MessageID, &x.Cliente, &x.Type, &x.Kind, &x.Event,
			&x.Status, &x.Reason, &x.Group, &x.FromMe, &x.PTT, &x.ViewOnce, &x.Ephemeral))
		key := x.Instance + "/" + x.MessageID
		if _, dup := out[key]; dup {
			t.Fatalf("two rows for %s", key)
		}
		out[key] = x
	}
	require.NoError(t, r.Err())
	return out
}

func (b *testBundle) countRows(t testing.TB) int {
	t.Helper()
	var n int
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT count(*) FROM media_files`).Scan(&n))
	return n
}

type queued struct {
	job.Download
	subject, msgID string
}

// jobs returns every download job stored in DOWNLOADS, by media id; a media
// id queued twice fails the test.
func (b *testBundle) jobs(t testing.TB) map[int64]queued {
	t.Helper()
	ctx := b.ctx
	st, err := b.js.Stream(ctx, bus.StreamDownloads)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	out := map[int64]queued{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		require.NoError(t, err)
		d, err := job.Decode(raw.Data)
		require.NoError(t, err)
		if _, dup := out[d.MediaID]; dup {
			t.Fatalf("media %d queued twice", d.MediaID)
		}
		out[d.MediaID] = queued{Download: d, subject: raw.Subject, msgID: raw.Header.Get(jetstream.MsgIDHeader)}
	}
	return out
}

// expectation is what one sample of pkg/wapi/testdata must leave in
// media_files; an empty mediaType means no row at all.
type expectation struct {
	instance, mediaType, kind, status, reason string
	check                                     func(t *testing.T, r row)
}

var samples = map[string]expectation{
	"image.json":                    {pro, "image", "imageMessage", "pending", "", nil},
	"video.json":                    {pro, "video", "videoMessage", "pending", "", nil},
	"ptv.json":                      {pro, "video", "ptvMessage", "pending", "", nil},
	"audio_ptt.json":                {pro, "audio", "audioMessage", "pending", "", func(t *testing.T, r row) { require.True(t, r.PTT) }},
	"audio_file.json":               {pro, "audio", "audioMessage", "pending", "", func(t *testing.T, r row) { require.False(t, r.PTT) }},
	"document.json":                 {pro, "document", "documentMessage", "pending", "", nil},
	"document_caption.json":         {pro, "document", "documentMessage", "pending", "", nil},
	"sticker.json":                  {pro, "sticker", "stickerMessage", "pending", "", nil},
	"lottie_sticker.json":           {pro, "sticker", "stickerMessage", "pending", "", nil},
	"group_image.json":              {pro, "image", "imageMessage", "pending", "", func(t *testing.T, r row) { require.True(t, r.Group) }},
	"viewonce_image.json":           {pro, "image", "imageMessage", "pending", "", func(t *testing.T, r row) { require.True(t, r.ViewOnce) }},
	"ephemeral_video.json":          {pro, "video", "videoMessage", "pending", "", func(t *testing.T, r row) { require.True(t, r.Ephemeral) }},
	"ephemeral_viewonce_audio.json": {pro, "audio", "audioMessage", "pending", "", func(t *testing.T, r row) { require.True(t, r.ViewOnce && r.Ephemeral && r.PTT) }},
	"delivery_image.json": {pro, "image", "imageMessage", "pending", "", func(t *testing.T, r row) {
		require.Equal(t, "webhookDelivery", r.Event)
		require.True(t, r.FromMe)
	}},
	"image_quoting_video.json":  {pro, "image", "imageMessage", "pending", "", nil}, // the quoted video is not a new item
	"newsletter_image.json":     {pro, "image", "imageMessage", "pending", "", nil},
	"status_story_image.json":   {pro, "image", "imageMessage", "pending", "", nil},
	"lite_lid_audio.json":       {lite, "audio", "audioMessage", "pending", "", nil},
	"missing_fields_image.json": {pro, "image", "imageMessage", "failed", "missing_fields", nil},

	"received_text.json":       {},
	"delivery_text.json":       {},
	"reply_quoting_image.json": {},
	"revoke.json":              {},
	"edit.json":                {},
	"reaction.json":            {},
	"ciphertext.json":          {},
	"status_read.json":         {},
	"status_delivery.json":     {},
	"connected.json":           {},
	"disconnected.json":        {},
	"presence.json":            {},
}

func sampleNames(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "pkg", "wapi", "testdata", "*.json"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	return names
}

// field returns the first string value of name in a sample body.
func field(t testing.TB, body []byte, name string) string {
	t.Helper()
	key := []byte(`"` + name + `": "`)
	i := bytes.Index(body, key)
	require.GreaterOrEqual(t, i, 0, "no %s", name)
	rest := body[i+len(key):]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

// messageKey returns "instance/messageId" of a sample as its row is keyed.
func messageKey(t testing.TB, body []byte) string {
	return field(t, body, "instanceId") + "/" + field(t, body, "messageId")
}

func TestAnalyzerRecordsEveryMediaKind(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	names := sampleNames(t)
	for _, name := range names {
		require.Contains(t, samples, name, "new sample %s: add its expectation here", name)
		body := sample(t, name)
		b.publish(t, field(t, body, "instanceId"), body, name)
	}
	errs := b.handle(t, b.fetch(t, len(names)))
	for i, err := range errs {
		require.NoError(t, err, names[i])
	}
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond, "every webhook acked")

	rows, jobs := b.rows(t), b.jobs(t)
	withMedia, pending := 0, 0
	for _, name := range names {
		want := samples[name]
		if want.mediaType == "" {
			continue
		}
		withMedia++
		key := messageKey(t, sample(t, name))
		r, ok := rows[key]
		require.True(t, ok, "%s: no row", name)
		require.Equal(t, want.instance, r.Instance, name)
		require.Equal(t, b.cliente[want.instance], r.Cliente, name)
		require.Equal(t, want.mediaType, r.Type, name)
		require.Equal(t, want.kind, r.Kind, name)
		require.Equal(t, want.status, r.Status, name)
		require.Equal(t, want.reason, r.Reason, name)
		if want.check != nil {
			want.check(t, r)
		}
		j, queuedJob := jobs[r.ID]
		if want.status != "pending" {
			require.False(t, queuedJob, "%s: a %s row gets no download job", name, r.Status)
			continue
		}
		pending++
		require.True(t, queuedJob, "%s: no download job", name)
		require.Equal(t, job.MsgID(r.ID, ""), j.msgID, name)
		require.Equal(t, bus.DownloadSubject(r.Type), j.subject, name)
		require.Equal(t, r.Cliente, j.ClienteID, name)
		require.Equal(t, r.Instance, j.InstanceID, name)
		require.EqualValues(t, r.Type, j.Type, name)
	}
	require.Len(t, rows, withMedia, "one row per media item, none for the other webhooks")
	require.Len(t, jobs, pending, "one job per pending row")
}

func TestAnalyzerAcksWebhooksWithoutMedia(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	var n int
	for _, name := range sampleNames(t) {
		if samples[name].mediaType == "" {
			body := sample(t, name)
			b.publish(t, field(t, body, "instanceId"), body, name)
			n++
		}
	}
	for _, err := range b.handle(t, b.fetch(t, n)) {
		require.NoError(t, err)
	}
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	require.Zero(t, b.countRows(t))
	require.Empty(t, b.jobs(t))
}

func TestAnalyzerMissingFieldsFailsTheRowAndQueuesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	body := sample(t, "missing_fields_image.json")
	b.publish(t, pro, body, "1")
	require.NoError(t, b.handle(t, b.fetch(t, 1))[0], "a webhook with unusable media is still acked")
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	r := b.rows(t)[messageKey(t, body)]
	require.Equal(t, "failed", r.Status)
	require.Equal(t, catalog.ReasonMissingFields, r.Reason)
	require.Empty(t, b.jobs(t))
}

func TestAnalyzerRecordsADuplicateWebhookOnce(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, b *testBundle, body []byte) {
		require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
		rows := b.rows(t)
		require.Len(t, rows, 1)
		jobs := b.jobs(t)
		require.Len(t, jobs, 1, "the second job is dropped by the DOWNLOADS duplicate window")
		require.Contains(t, jobs, rows[messageKey(t, body)].ID)
	}
	t.Run("in one batch", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testTopology())
		body := sample(t, "image.json")
		b.publish(t, pro, body, "first")
		b.publish(t, pro, body, "second") // a W-API retry outside the ingest's duplicate window
		for _, err := range b.handle(t, b.fetch(t, 2)) {
			require.NoError(t, err)
		}
		check(t, b, body)
	})
	t.Run("in two batches", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testTopology())
		body := sample(t, "video.json")
		b.publish(t, pro, body, "first")
		b.publish(t, pro, body, "second")
		require.NoError(t, b.handle(t, b.fetch(t, 1))[0])
		require.NoError(t, b.handle(t, b.fetch(t, 1))[0])
		check(t, b, body)
	})
}

// TestAnalyzerSurvivesACrashBetweenCommitAndAck handles a webhook without
// settling it, as a process that dies right after the PostgreSQL commit (and
// the job publish) would, and handles its redelivery.
func TestAnalyzerSurvivesACrashBetweenCommitAndAck(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"ack wait expires", "nak"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			topo := testTopology()
			topo.AnalyzerAckWait = time.Second
			b := setup(t, topo)
			body := sample(t, "audio_ptt.json")
			seq := b.publish(t, pro, body, "1")

			first := b.fetch(t, 1)
			require.NoError(t, b.an.HandleBatch(b.ctx, first)[0])
			rows := b.rows(t)
			require.Len(t, rows, 1)
			id := rows[messageKey(t, body)].ID
			require.Len(t, b.jobs(t), 1)
			if how == "nak" {
				require.NoError(t, first[0].Nak())
			} // else: no ack, no nak; the server redelivers after AckWait

			again := b.fetch(t, 1)
			md, err := again[0].Metadata()
			require.NoError(t, err)
			require.Equal(t, seq, md.Sequence.Stream)
			require.EqualValues(t, 2, md.NumDelivered)
			require.NoError(t, b.handle(t, again)[0])

			require.Eventually(t, func() bool {
				info := b.consumerInfo(t)
				return info.NumPending == 0 && info.NumAckPending == 0
			}, 10*time.Second, 20*time.Millisecond)
			rows = b.rows(t)
			require.Len(t, rows, 1)
			require.Equal(t, id, rows[messageKey(t, body)].ID, "the redelivery finds the same row")
			jobs := b.jobs(t)
			require.Len(t, jobs, 1)
			require.Contains(t, jobs, id)
		})
	}
}

// TestAnalyzerQueuesTheJobOnRedeliveryWhenItsPublishFailed covers the other
// half of the crash window: the row is committed but its job never reached
// DOWNLOADS. The webhook is retried, and the retry queues the job.
func TestAnalyzerQueuesTheJobOnRedeliveryWhenItsPublishFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	ctx := b.ctx
	body := sample(t, "document.json")
	b.publish(t, pro, body, "1")
	require.NoError(t, b.js.DeleteStream(ctx, bus.StreamDownloads))

	errs := b.handle(t, b.fetch(t, 1))
	require.Error(t, errs[0])
	require.False(t, bus.IsPermanent(errs[0]), "a lost job publish is retried: %v", errs[0])
	rows := b.rows(t)
	require.Len(t, rows, 1)
	require.Equal(t, "pending", rows[messageKey(t, body)].Status)

	require.NoError(t, bus.Setup(ctx, b.js, testTopology()))
	require.NoError(t, b.handle(t, b.fetch(t, 1))[0])
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	jobs := b.jobs(t)
	require.Len(t, jobs, 1)
	require.Contains(t, jobs, rows[messageKey(t, body)].ID)
	require.Len(t, b.rows(t), 1)
}

// worker runs the analyzer under bus.Run on its own NATS connection and
// catalogue pool, as a separate process would, and counts deliveries.
type worker struct {
	mu         sync.Mutex
	deliveries map[uint64]int // by stream sequence
	handled    int
}

func (w *worker) count(h bus.BatchHandler) bus.BatchHandler {
	return func(ctx context.Context, msgs []jetstream.Msg) []error {
		w.mu.Lock()
		for _, m := range msgs {
			if md, err := m.Metadata(); err == nil {
				w.deliveries[md.Sequence.Stream]++
			}
		}
		w.handled += len(msgs)
		w.mu.Unlock()
		return h(ctx, msgs)
	}
}

func (w *worker) delivered(seq uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deliveries[seq]
}

// runWorker starts one analyzer process; wrap, when set, wraps its handler.
// Run is stopped (and must return nil) when the test ends.
func (b *testBundle) runWorker(t testing.TB, wrap func(bus.BatchHandler) bus.BatchHandler) *worker {
	t.Helper()
	ctx := b.ctx
	_, js := natstest.Connect(t, b.natsURL)
	store, err := catalog.Open(ctx, b.dbURL)
	require.NoError(t, err)
	cons, err := js.Consumer(ctx, bus.StreamWebhooks, bus.ConsumerAnalyzer)
	require.NoError(t, err)
	an := &analyzer.Analyzer{Store: store, JS: js, Log: logger(t)}
	w := &worker{deliveries: map[uint64]int{}}
	h := w.count(an.HandleBatch)
	if wrap != nil {
		h = wrap(h)
	}
	s := b.settler()
	s.JS = js
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bus.Run(runCtx, cons, bus.WorkerOptions{
			BatchHandler: h, Concurrency: 2, Batch: 256, MaxWait: 200 * time.Millisecond,
			StopTimeout: 10 * time.Second, Settler: s, Logger: logger(t),
		})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("bus.Run did not return after its context ended")
		}
		store.Close()
	})
	return w
}

// deadLetter waits for the dead-letter record of the message at seq.
func (b *testBundle) deadLetter(t testing.TB, seq uint64) bus.DeadLetter {
	t.Helper()
	var found *bus.DeadLetter
	require.Eventually(t, func() bool {
		recs, err := bus.ListDeadLetters(b.ctx, b.js, bus.DeadLetterFilter{})
		require.NoError(t, err)
		for _, r := range recs {
			if r.Stream == bus.StreamWebhooks && r.StreamSeq == seq {
				found = &r
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "dead-letter record of #%d", seq)
	return *found
}

func TestAnalyzerDeadLettersUnknownInstances(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	const stranger = "UNKNOWN-INSTANCE-1"
	body := bytes.ReplaceAll(sample(t, "image.json"), []byte(pro), []byte(stranger))
	good := sample(t, "video.json")
	bad := b.publish(t, stranger, body, "stranger")
	b.publish(t, pro, good, "good") // in the same batch: unaffected

	w := b.runWorker(t, nil)
	rec := b.deadLetter(t, bad)
	require.Equal(t, analyzer.ReasonUnknownInstance, rec.Reason)
	require.Equal(t, "webhooks.wapi."+stranger, rec.Subject)
	require.Equal(t, bus.ConsumerAnalyzer, rec.Consumer)
	require.Equal(t, "stranger", rec.MsgID)
	require.EqualValues(t, 1, rec.Deliveries)
	require.False(t, rec.Exhausted)
	require.Contains(t, rec.Error, stranger)
	require.Equal(t, stranger, rec.About["instance_id"], "the record names the webhook")
	require.Equal(t, field(t, sample(t, "image.json"), "messageId"), rec.About["message_id"])

	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond, "terminated, not pending redelivery")
	require.Equal(t, 1, w.delivered(bad), "a terminated message is not delivered again")
	rows := b.rows(t)
	require.Len(t, rows, 1)
	require.Contains(t, rows, messageKey(t, good))
	require.Len(t, b.jobs(t), 1)
}

func TestAnalyzerDeadLettersMalformedWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	var seqs []uint64
	for i, body := range []string{`this is not JSON`, `[1, 2, 3]`, `{"event": "webhookReceived", "instanceId": `} {
		seqs = append(seqs, b.publish(t, pro, []byte(body), fmt.Sprint("bad-", i)))
	}
	w := b.runWorker(t, nil)
	for _, seq := range seqs {
		rec := b.deadLetter(t, seq)
		require.Equal(t, analyzer.ReasonMalformed, rec.Reason)
		require.False(t, rec.Exhausted)
		require.EqualValues(t, 1, rec.Deliveries)
	}
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	for _, seq := range seqs {
		require.Equal(t, 1, w.delivered(seq))
	}
	require.Zero(t, b.countRows(t))
}

// TestAnalyzerDeadLettersUnknownProviders: a webhook on a subject naming
// no known provider (only something other than the ingest publishes one) is
// kept as a dead letter, never read as a W-API body.
func TestAnalyzerDeadLettersUnknownProviders(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	subj, err := bus.ProviderWebhookSubject("telegram", "bot-1")
	require.NoError(t, err)
	ack, err := b.js.Publish(b.ctx, subj, []byte(`{"update_id":1}`), jetstream.WithMsgID("tg-1"))
	require.NoError(t, err)
	good := sample(t, "video.json")
	b.publish(t, pro, good, "good") // in the same batch: unaffected

	w := b.runWorker(t, nil)
	rec := b.deadLetter(t, ack.Sequence)
	require.Equal(t, analyzer.ReasonUnsupportedProvider, rec.Reason)
	require.Equal(t, subj, rec.Subject)
	require.Contains(t, rec.Error, "telegram")
	require.Equal(t, "bot-1", rec.About["instance_id"], "the record names the instance")
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, w.delivered(ack.Sequence))
	rows := b.rows(t)
	require.Len(t, rows, 1)
	require.Contains(t, rows, messageKey(t, good))
}

// TestAnalyzerRecordsEveryProvider: WAHA's and Z-API's webhooks record a
// plain file at its URL, checked by content only; a Meta delivery naming
// two phone numbers records every media item of every message under the
// instance its entry names, each a Graph API media id with its sha256.
func TestAnalyzerRecordsEveryProvider(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	for _, in := range []catalog.Instance{
		{ID: "default", Provider: webhook.WAHA, Credentials: catalog.Credentials{BaseURL: "http://waha:3000", APIKey: "k"}},
		{ID: "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2", Provider: webhook.ZAPI},
		{ID: "106540352242922", Provider: webhook.Meta, Credentials: catalog.Credentials{APIKey: "t", AppSecret: "s", VerifyToken: "v"}},
		{ID: "106540352242999", Provider: webhook.Meta, Credentials: catalog.Credentials{APIKey: "t", AppSecret: "s", VerifyToken: "v2"}},
	} {
		_, err := operator.New(b.store).RegisterInstance(b.ctx, "providers", in)
		require.NoError(t, err)
	}
	for _, f := range []struct{ provider, instance, file string }{
		{"waha", "default", "../../pkg/waha/testdata/image_gows.json"},
		{"zapi", "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2", "../../pkg/zapi/testdata/image.json"},
		{"meta", "106540352242922", "../../pkg/meta/testdata/batch_two_numbers.json"},
	} {
		body, err := os.ReadFile(f.file)
		require.NoError(t, err)
		subj, err := bus.ProviderWebhookSubject(f.provider, f.instance)
		require.NoError(t, err)
		_, err = b.js.Publish(b.ctx, subj, body, jetstream.WithMsgID(f.provider))
		require.NoError(t, err)
	}
	b.runWorker(t, nil)
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	rows, _ := pgtest.DB(t, b.store).Query(b.ctx, `
		SELECT instance_id || '/' || message_id || ' ' || source || ' ' || integrity || ' ' || download_status || ' ' ||
			COALESCE(provider_media_id, url, '')
		FROM media_files ORDER BY 1`)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, got, 5, "%q", got)
	require.Contains(t, got[0], "106540352242922/wamid.B1 graph sha256 pending 2001")
	require.Contains(t, got[1], "106540352242922/wamid.B3 graph sha256 pending 2003")
	require.Contains(t, got[2], "106540352242999/wamid.B4 graph sha256 pending 2004")
	require.Contains(t, got[3], "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2/3EB0A1B2C3D4E5F60718 file content_only pending https://")
	require.Contains(t, got[4], "default/false_5511911112222@c.us_3EB0A1B2C3D4E5F60718 file content_only pending http://")
	require.Len(t, b.jobs(t), 5)
}

// TestAnalyzerRecordsEvolutionMedia: an Evolution API webhook (index-keyed
// bytes, Long lengths, JSONB key order) records its media item like a W-API
// one, under the Evolution instance, and queues its download.
func TestAnalyzerRecordsEvolutionMedia(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	_, err := operator.New(b.store).RegisterInstance(b.ctx, "evo cliente", catalog.Instance{ID: "loja-centro", Provider: webhook.Evolution,
		Credentials: catalog.Credentials{BaseURL: "https://evo.example.com", APIKey: "evo-key"}})
	require.NoError(t, err)
	body, err := os.ReadFile("../../pkg/evolution/testdata/document_jsonb.json")
	require.NoError(t, err)
	subj, err := bus.ProviderWebhookSubject("evolution", "loja-centro")
	require.NoError(t, err)
	_, err = b.js.Publish(b.ctx, subj, body, jetstream.WithMsgID("evo-doc"))
	require.NoError(t, err)

	b.runWorker(t, nil)
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	var status, mediaType, mimetype, fileName string
	var length int64
	require.NoError(t, pgtest.DB(t, b.store).QueryRow(b.ctx, `
		SELECT download_status, media_type, mimetype, file_name, file_length FROM media_files
		WHERE instance_id = 'loja-centro' AND message_id = '3EB0C3D4E5F607182930'`).Scan(&status, &mediaType, &mimetype, &fileName, &length))
	require.Equal(t, "pending", status)
	require.Equal(t, "document", mediaType)
	require.Equal(t, "application/pdf", mimetype)
	require.Equal(t, "boleto-dezembro.pdf", fileName)
	require.EqualValues(t, 48213, length)
	require.Len(t, b.jobs(t), 1)
}

// hooks returns n webhooks made from the samples with unique message ids,
// media on every mediaEvery-th one (0: cycle through every sample), with the
// "instance/messageId" keys of those that carry media.
func hooks(t testing.TB, n, mediaEvery int, salt string) (bodies [][]byte, instances []string, media map[string]bool) {
	t.Helper()
	var with, without []string
	for _, name := range sampleNames(t) {
		if !bytes.Contains(sample(t, name), []byte(`"messageId"`)) {
			continue // connection and presence events: no id to make unique
		}
		if samples[name].mediaType != "" {
			with = append(with, name)
		} else {
			without = append(without, name)
		}
	}
	all := slices.Concat(with, without)
	templates := map[string][]byte{}
	for _, name := range all {
		templates[name] = sample(t, name)
	}
	media = map[string]bool{}
	for i := range n {
		var name string
		switch {
		case mediaEvery == 0:
			name = all[i%len(all)]
		case i%mediaEvery == 0:
			name = with[(i/mediaEvery)%len(with)]
		default:
			name = without[i%len(without)]
		}
		body := withMessageID(t, templates[name], fmt.Sprintf("3EB0%s%012X", salt, i))
		if samples[name].mediaType != "" {
			media[messageKey(t, body)] = true
		}
		bodies = append(bodies, body)
		instances = append(instances, field(t, body, "instanceId"))
	}
	return bodies, instances, media
}

// publishAll stores the webhooks with async publishes and waits for every ack.
func (b *testBundle) publishAll(t testing.TB, bodies [][]byte, instances []string) {
	t.Helper()
	ctx := b.ctx
	const window = 1000
	for start := 0; start < len(bodies); start += window {
		var futs []jetstream.PubAckFuture
		for i := start; i < min(start+window, len(bodies)); i++ {
			subj, err := bus.WebhookSubject(instances[i])
			require.NoError(t, err)
			f, err := b.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: bodies[i]}, jetstream.WithMsgID(fmt.Sprint("hook-", i)))
			require.NoError(t, err)
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				require.NoError(t, err)
			case <-ctx.Done():
				require.NoError(t, ctx.Err())
			}
		}
	}
}

func TestAnalyzerWorkersShareTheConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	const n = 2000
	bodies, instances, media := hooks(t, n, 0, "")
	b.publishAll(t, bodies, instances)

	// Each worker's first batch waits for the other's, so the split is certain.
	var both sync.WaitGroup
	both.Add(2)
	gate := func(h bus.BatchHandler) bus.BatchHandler {
		var once sync.Once
		return func(ctx context.Context, msgs []jetstream.Msg) []error {
			once.Do(func() {
				both.Done()
				waitGroup(&both, 10*time.Second)
			})
			return h(ctx, msgs)
		}
	}
	workers := []*worker{b.runWorker(t, gate), b.runWorker(t, gate)}

	require.Eventually(t, b.settled(t), 60*time.Second, 50*time.Millisecond)
	seen := map[uint64]bool{}
	for i, w := range workers {
		w.mu.Lock()
		require.Positive(t, w.handled, "worker %d did no work", i)
		for seq := range w.deliveries {
			seen[seq] = true
		}
		w.mu.Unlock()
	}
	require.Len(t, seen, n, "every webhook was handled")
	rows := b.rows(t) // fails on a second row for any item
	require.Len(t, rows, len(media))
	pending := 0
	for key, r := range rows {
		require.True(t, media[key], "unexpected row %s", key)
		if r.Status == "pending" {
			pending++
		}
	}
	jobs := b.jobs(t)
	require.Len(t, jobs, pending, "one job per pending row")
	for key, r := range rows {
		if _, ok := jobs[r.ID]; r.Status == "pending" && !ok {
			t.Errorf("%s: no download job", key)
		}
	}
}

func waitGroup(wg *sync.WaitGroup, timeout time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

func TestAnalyzerDeadLettersMediaWithoutAMessageID(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	image := sample(t, "image.json")
	id := []byte(`"messageId": "` + field(t, image, "messageId") + `",`)
	noID := bytes.Replace(image, id, nil, 1)
	nulID := bytes.Replace(image, id, []byte(`"messageId": "\u0000",`), 1)
	good := sample(t, "video.json")
	seqs := []uint64{b.publish(t, pro, noID, "no-id"), b.publish(t, pro, nulID, "nul-id")}
	b.publish(t, pro, good, "good")

	errs := b.handle(t, b.fetch(t, 3)) // one batch: the good webhook must not share their fate
	require.NoError(t, errs[2])
	for i, seq := range seqs {
		require.True(t, bus.IsPermanent(errs[i]), "%v", errs[i])
		rec := b.deadLetter(t, seq)
		require.Equal(t, analyzer.ReasonMalformed, rec.Reason)
		require.False(t, rec.Exhausted)
	}
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	rows := b.rows(t)
	require.Len(t, rows, 1)
	require.Contains(t, rows, messageKey(t, good))
}

// TestAnalyzerGivesUpOnlyOnAWebhookPostgreSQLRefuses sends values that
// decode fine but that PostgreSQL cannot store (timestamps past year
// 294276) in one batch with a good webhook.
func TestAnalyzerGivesUpOnlyOnAWebhookPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	image := sample(t, "image.json")
	farMoment := bytes.Replace(image, []byte(`"moment": 1748896286`), []byte(`"moment": 9999999999999999`), 1)
	farKey := bytes.Replace(image, []byte(`"mediaKeyTimestamp": "1749253008"`), []byte(`"mediaKeyTimestamp": 9999999999999999`), 1)
	require.NotEqual(t, image, farMoment)
	require.NotEqual(t, image, farKey)
	farKey = withMessageID(t, farKey, "3EB0FAR0KEY0TIMESTAMP")
	good := sample(t, "video.json")
	seqs := []uint64{b.publish(t, pro, farMoment, "far-moment"), b.publish(t, pro, farKey, "far-key")}
	b.publish(t, pro, good, "good")

	errs := b.handle(t, b.fetch(t, 3))
	require.NoError(t, errs[2])
	for i, seq := range seqs {
		require.True(t, bus.IsPermanent(errs[i]), "%v", errs[i])
		rec := b.deadLetter(t, seq)
		require.Equal(t, analyzer.ReasonMalformed, rec.Reason)
		require.Contains(t, rec.Error, "out of range")
	}
	require.Eventually(t, b.settled(t), 10*time.Second, 20*time.Millisecond)
	rows := b.rows(t)
	require.Len(t, rows, 1)
	require.Contains(t, b.jobs(t), rows[messageKey(t, good)].ID)
}

func TestAnalyzerObservesOnlySettledWork(t *testing.T) {
	t.Parallel()
	b := setup(t, testTopology())
	var webhooks, media int
	b.an.Observe = func(p string, w, m int) { require.Equal(t, "wapi", p); webhooks += w; media += m }
	const stranger = "UNKNOWN-INSTANCE-2"
	b.publish(t, stranger, bytes.ReplaceAll(sample(t, "image.json"), []byte(pro), []byte(stranger)), "stranger")
	b.publish(t, pro, sample(t, "video.json"), "good")
	b.publish(t, pro, []byte(`not JSON`), "garbage")
	errs := b.handle(t, b.fetch(t, 3))
	require.Error(t, errs[0])
	require.NoError(t, errs[1])
	require.Error(t, errs[2])
	require.Equal(t, 1, webhooks, "dead-lettered webhooks are not counted as analyzed")
	require.Equal(t, 1, media)
}
