package downloader_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/downloader"
	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/metrics"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/wapi"
)

const wapiToken = "wapi-token-test"

// pipeline is the downloader as a component: a real PostgreSQL schema, an
// embedded JetStream server with the project's topology, a file store in a
// temporary directory, a fetcher against the simulator's loopback CDN and
// W-API, and a bus worker running the downloader, all built here without
// the app. send records a webhook's media as the analyzer would and queues
// their download jobs.
type pipeline struct {
	t       testing.TB
	dl      *downloader.Downloader // the downloader the worker runs
	metrics *metrics.Metrics       // its metrics
	logs    *observer.ObservedLogs // its log lines, every level
	store   *catalog.Store
	js      jetstream.JetStream
	dbURL   string
	natsURL string
	cfg     config.Config
	sim     *wasim.Server
	cliente int64
}

type pipelineOptions struct {
	maxDeliver int                  // downloader MaxDeliver (default 3; unlimited with own)
	ackWait    time.Duration        // downloader AckWait (default: the topology's)
	env        map[string]string    // extra configuration (MAX_MEDIA_BYTES, DOWNLOAD_WORKERS)
	fetch      func(*fetch.Options) // fetch overrides
	cdnBase    string               // WHATSAPP_CDN_BASE_URL instead of the simulator's (a proxy)
	// blobs, when set, is the file store instead of a Local at MEDIA_DIR.
	blobs blob.Store
	// own, when set, adjusts the downloader's retry policy; JetStream then
	// redelivers without limit and the downloader alone decides.
	own func(*downloader.Downloader)
}

func setup(t testing.TB, o pipelineOptions) *pipeline {
	t.Helper()
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	return setupWithSim(t, sim, o)
}

// setupWithSim is setup against a simulator of the test's.
func setupWithSim(t testing.TB, sim *wasim.Server, o pipelineOptions) *pipeline {
	t.Helper()
	store, dbURL := pgtest.NewStore(t)
	natsURL, _ := natstest.Start(t)
	_, js := natstest.Connect(t, natsURL)
	sim.AddInstance(wasim.InstancePro, wapiToken)

	ctx := context.Background()
	ten, err := operator.New(store).Register(ctx, "Cliente de teste", wasim.InstancePro, wapiToken)
	require.NoError(t, err)

	env := map[string]string{
		"DATABASE_URL":          dbURL,
		"NATS_URL":              natsURL,
		"DATA_DIR":              t.TempDir(),
		"WHATSAPP_CDN_BASE_URL": sim.CDNBaseURL(),
		"WAPI_BASE_URL":         sim.WAPIBaseURL(),
	}
	if o.cdnBase != "" {
		env["WHATSAPP_CDN_BASE_URL"] = o.cdnBase
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, errs := config.Load(func(k string) string { return env[k] })
	require.Empty(t, errs)
	require.NoError(t, cfg.Validate())

	switch {
	case o.maxDeliver == 0 && o.own != nil:
		o.maxDeliver = -1 // the downloader's own retry policy decides
	case o.maxDeliver == 0:
		o.maxDeliver = 3
	}
	require.NoError(t, bus.Setup(ctx, js, bus.Topology{DownloaderMaxDeliver: o.maxDeliver, DownloaderAckWait: o.ackWait}))
	p := &pipeline{
		t: t, store: store, js: js, dbURL: dbURL, natsURL: natsURL, cfg: cfg, sim: sim, cliente: ten.ClienteID,
	}
	p.run(o)
	return p
}

// run runs a downloader worker as a downloader process does: its file
// store, its fetcher, and a bus worker whose settler records exhausted
// jobs; its log lines are observed and its metrics its own.
func (p *pipeline) run(o pipelineOptions) {
	t := p.t
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	if tt, ok := t.(*testing.T); ok {
		log = zap.New(zapcore.NewTee(core, zaptest.NewLogger(tt, zaptest.Level(zap.ErrorLevel)).Core()))
	}
	var blobs blob.Store = o.blobs
	if blobs == nil {
		local, err := blob.NewLocal(p.cfg.MediaDir)
		require.NoError(t, err)
		blobs = local
	}
	fo := fetch.Options{CDNBase: p.cfg.CDNBaseURL, WAPIBase: p.cfg.WAPIBase, AllowedHosts: p.cfg.MediaHosts,
		MaxBytes: p.cfg.MaxMedia, Logger: log.Named("fetch")}
	if o.fetch != nil {
		o.fetch(&fo)
	}
	f, err := fetch.New(fo)
	require.NoError(t, err)
	cons, err := p.js.Consumer(context.Background(), bus.StreamDownloads, bus.ConsumerDownloader)
	require.NoError(t, err)
	// Heart-beats well inside the consumer's AckWait, whatever it is.
	heartBeat := bus.DefaultKeepAlive
	if info := cons.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		heartBeat = min(heartBeat, info.Config.AckWait/4)
	}
	m := metrics.New()
	dl := &downloader.Downloader{Store: p.store, Blobs: blobs, Fetcher: f, Log: log.Named("downloader"),
		MaxBytes: p.cfg.MaxMedia, AllowExec: p.cfg.AllowExec, HeartBeat: heartBeat, Observe: m.ObserveDownload,
		RetryHorizon: p.cfg.RetryHorizon, BackoffMax: p.cfg.BackoffMax}
	if o.own != nil {
		o.own(dl)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bus.Run(ctx, cons, bus.WorkerOptions{
			Handler: m.Messages("downloader", dl.Handle), Concurrency: p.cfg.Workers, MaxWait: time.Second, StopTimeout: 10 * time.Second,
			Settler: bus.Settler{JS: p.js, BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
				RecordExhausted: dl.RecordExhausted, Describe: dl.Describe, Logger: log.Named("bus")},
			Logger: log.Named("bus"),
		})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Error("the downloader did not stop within 60s")
		}
	})
	p.dl, p.metrics, p.logs = dl, m, logs
}

func newMessageID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "3EB0" + strings.ToUpper(hex.EncodeToString(b))
}

// hook renders a webhookReceived carrying it; edit, when set, changes the
// media object (a map of the JSON fields) before it is sent.
func hook(it *wasim.Item, edit func(media map[string]any)) (msgID string, body []byte) {
	msgID = newMessageID()
	body = wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{
		InstanceID: wasim.InstancePro, MessageID: msgID, Media: it,
	})
	if edit == nil {
		return msgID, body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		panic(err)
	}
	edit(ev["msgContent"].(map[string]any)[it.Sample.Kind].(map[string]any))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		panic(err)
	}
	return msgID, bytes.TrimSpace(b.Bytes())
}

// record records the media of webhooks (bodies as W-API posts them) as the
// analyzer does, and queues a download job for every pending row.
func (p *pipeline) record(bodies ...[]byte) {
	p.t.Helper()
	msgs := make([]catalog.Message, len(bodies))
	for i, body := range bodies {
		ev, err := wapi.Decode(body)
		require.NoError(p.t, err)
		n := ev.Neutral()
		msgs[i] = catalog.MessageOf(&n)
	}
	p.queue(msgs...)
}

// queue records msgs as the analyzer does and queues a download job for
// every pending row; it returns what RecordMessages reported.
func (p *pipeline) queue(msgs ...catalog.Message) []catalog.Recorded {
	p.t.Helper()
	ctx := context.Background()
	rec, err := p.store.RecordMessages(ctx, msgs)
	require.NoError(p.t, err)
	var jobs []job.Download
	for _, r := range rec {
		require.False(p.t, r.UnknownInstance)
		if r.Status == catalog.StatusPending { // as the analyzer: a redelivery may not have queued it
			jobs = append(jobs, job.Download{MediaID: r.MediaID, ClienteID: r.ClienteID, InstanceID: msgs[r.Msg].InstanceID, Type: r.Type})
		}
	}
	require.NoError(p.t, job.PublishAll(ctx, p.js, jobs, job.PublishOptions{}).Err())
	return rec
}

// send records a webhook for it and returns its message id.
func (p *pipeline) send(it *wasim.Item, edit func(map[string]any)) string {
	id, body := hook(it, edit)
	p.record(body)
	return id
}

type row struct {
	ID         int64
	Status     string
	Reason     string
	Path       string
	Mimetype   string
	Size       int64
	Attempts   int
	LastReason string
	Retrying   bool // next_attempt_at is set
}

func (r row) final() bool {
	return r.Status == catalog.StatusSuccess || r.Status == catalog.StatusFailed || r.Status == catalog.StatusExpired
}

func (p *pipeline) rows(msgIDs []string) map[string]row {
	p.t.Helper()
	rs, err := pgtest.DB(p.t, p.store).Query(context.Background(), `
		SELECT message_id, id, download_status, coalesce(failure_reason, ''), coalesce(file_path, ''),
			coalesce(mimetype, ''), coalesce(file_size, 0), attempts, coalesce(last_reason, ''), next_attempt_at IS NOT NULL
		FROM media_files WHERE instance_id = $1 AND message_id = ANY($2)`, wasim.InstancePro, msgIDs)
	require.NoError(p.t, err)
	defer rs.Close()
	out := map[string]row{}
	for rs.Next() {
		var id string
		var r row
		require.NoError(p.t, rs.Scan(&id, &r.ID, &r.Status, &r.Reason, &r.Path, &r.Mimetype, &r.Size, &r.Attempts,
			&r.LastReason, &r.Retrying))
		_, dup := out[id]
		require.False(p.t, dup, "one row per message: %s", id)
		out[id] = r
	}
	require.NoError(p.t, rs.Err())
	return out
}

// waitFinal polls until every message has a row in a final status.
func (p *pipeline) waitFinal(timeout time.Duration, msgIDs ...string) map[string]row {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows := p.rows(msgIDs)
		done := len(rows) == len(msgIDs)
		for _, r := range rows {
			done = done && r.final()
		}
		if done {
			return rows
		}
		if time.Now().After(deadline) {
			require.FailNow(p.t, "rows did not settle", "after %s: %+v", timeout, rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *pipeline) waitOne(msgID string) row {
	p.t.Helper()
	return p.waitFinal(30*time.Second, msgID)[msgID]
}

func plainOf(t testing.TB, it *wasim.Item) []byte {
	t.Helper()
	f, err := it.OpenPlain()
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

// requireStored checks a success row and that its file is exactly it's plain file.
func (p *pipeline) requireStored(r row, it *wasim.Item) {
	p.t.Helper()
	require.Equal(p.t, catalog.StatusSuccess, r.Status, "reason %q", r.Reason)
	require.Empty(p.t, r.Reason)
	require.NoError(p.t, blob.CheckPath(r.Path))
	got, err := os.ReadFile(filepath.Join(p.cfg.MediaDir, filepath.FromSlash(r.Path)))
	require.NoError(p.t, err)
	require.True(p.t, bytes.Equal(plainOf(p.t, it), got), "the stored file is the exact plain media")
	sum := sha256.Sum256(got)
	require.Equal(p.t, it.FileSHA256, sum[:])
	require.EqualValues(p.t, len(got), r.Size)
	want, err := blob.Key(p.cliente, it.FileSHA256, filepath.Ext(r.Path))
	require.NoError(p.t, err)
	require.Equal(p.t, want, r.Path, "content addressed under the cliente")
}

// requireNothingStored checks that no media file (and no temporary file) is
// under MEDIA_DIR.
func (p *pipeline) requireNothingStored() {
	p.t.Helper()
	require.Empty(p.t, p.files(), "nothing unverified is stored")
}

// files lists every regular file under MEDIA_DIR, temporary ones included.
func (p *pipeline) files() []string {
	p.t.Helper()
	var out []string
	err := filepath.WalkDir(p.cfg.MediaDir, func(path string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(p.cfg.MediaDir, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(p.t, err)
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// variant returns a copy of the named sample whose content differs (bytes the
// formats ignore at the end), so that deduplication does not join items.
func variant(name string, n int) samples.Sample {
	s := samples.ByName(name)
	s.Data = append(s.Data, fmt.Sprintf("\n%%mediapipe test variant %d %s\n", n, newMessageID())...)
	return s
}

func addSample(t testing.TB, sim *wasim.Server, s samples.Sample, opts ...wasim.ItemOption) *wasim.Item {
	t.Helper()
	it, err := sim.AddSample(s, opts...)
	require.NoError(t, err)
	return it
}

// counter is an HTTP server on 127.0.0.1 that must never be reached.
func counter(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write([]byte("you should not be here"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// badPaddingBlob encrypts data (a multiple of 16 bytes whose last byte is
// no valid PKCS#7 padding) as WhatsApp would, with a valid MAC: what a
// hostile sender can upload. It returns the key and the blob.
func badPaddingBlob(t testing.TB, data []byte, class wamedia.Class) ([]byte, []byte) {
	t.Helper()
	require.Zero(t, len(data)%aes.BlockSize)
	key := wamedia.GenerateMediaKey()
	k, err := wamedia.ExpandKeys(key, class)
	require.NoError(t, err)
	blk, err := aes.NewCipher(k.CipherKey[:])
	require.NoError(t, err)
	ct := make([]byte, len(data))
	cipher.NewCBCEncrypter(blk, k.IV[:]).CryptBlocks(ct, data)
	mac := hmac.New(sha256.New, k.MACKey[:])
	mac.Write(k.IV[:])
	mac.Write(ct)
	return key, append(ct, mac.Sum(nil)[:10]...)
}

// TestFailureReasons runs one pipeline through every way a download can
// fail, and the fallbacks that save an expired item, and checks the status,
// reason and attempts recorded on each row, what reached the CDN, and that
// nothing unverified was stored.
func TestFailureReasons(t *testing.T) {
	t.Parallel()
	never, neverHits := counter(t)
	p := setup(t, pipelineOptions{
		maxDeliver: 3,
		env:        map[string]string{"MAX_MEDIA_BYTES": strconv.Itoa(1 << 20)},
		fetch: func(o *fetch.Options) {
			o.IdleTimeout = 300 * time.Millisecond
			o.HeaderTimeout = 2 * time.Second
		},
	})
	sim := p.sim
	neverURL := strings.Replace(never.URL, "http://", "https://", 1)

	type tc struct {
		name     string
		item     *wasim.Item
		edit     func(map[string]any)
		status   string
		reason   string
		attempts int   // rows' attempts; 0 for rows the analyzer failed
		cdn      int64 // requests the item's path saw
		wapi     int64 // download-media calls for the item
		stored   bool
	}
	add := func(name string, opts ...wasim.ItemOption) *wasim.Item {
		return addSample(t, sim, variant(name, 0), opts...)
	}
	other := add(samples.ImageJPEG)
	wrongKey := add(samples.ImagePNG)
	macKey := other.MediaKey

	// bad_padding: a blob with a valid MAC over ciphertext whose plain end
	// is no PKCS#7 padding. The simulator serves it as is (an "unencrypted"
	// item); the webhook then claims the key and hashes a sender would.
	plain := append(bytes.Repeat([]byte("%PDF-1.7 padding "), 64)[:1024-16], bytes.Repeat([]byte{0}, 16)...)
	padKey, padBlob := badPaddingBlob(t, plain, wamedia.ClassDocument)
	padMeta := samples.ByName(samples.DocumentPDF)
	padItem, err := sim.AddMedia(padMeta, bytes.NewReader(padBlob), wasim.Unencrypted())
	require.NoError(t, err)
	padEnc := sha256.Sum256(padBlob)
	padPlain := sha256.Sum256(plain)

	large, err := sim.AddMedia(samples.LargeVideoSample(2<<20), samples.LargeVideo(2<<20))
	require.NoError(t, err)

	cases := []tc{
		{name: "enc_hash_mismatch: corrupt on every try, retried then exhausted",
			item:   add(samples.ImageJPEG, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultCorrupt})),
			status: "failed", reason: "enc_hash_mismatch", attempts: 3, cdn: 3},
		{name: "mac_mismatch: another item's key with this blob's hashes",
			item: wrongKey, edit: func(m map[string]any) { m["mediaKey"] = b64(macKey) },
			status: "failed", reason: "mac_mismatch", attempts: 1, cdn: 1},
		{name: "bad_padding: valid MAC, invalid padding",
			item: padItem, edit: func(m map[string]any) {
				m["mediaKey"], m["fileEncSha256"], m["fileSha256"] = b64(padKey), b64(padEnc[:]), b64(padPlain[:])
			},
			status: "failed", reason: "bad_padding", attempts: 1, cdn: 1},
		{name: "plain_hash_mismatch: wrong fileSha256",
			item: add(samples.AudioVoice), edit: func(m map[string]any) { m["fileSha256"] = b64(bytes.Repeat([]byte{7}, 32)) },
			status: "failed", reason: "plain_hash_mismatch", attempts: 1, cdn: 1},
		{name: "type_mismatch: an executable sent as a PDF",
			item: add(samples.HostileELFAsPDF), status: "failed", reason: "type_mismatch", attempts: 1, cdn: 1},
		{name: "type_mismatch: a PDF sent as an image",
			item: add(samples.HostilePDFAsJPEG), status: "failed", reason: "type_mismatch", attempts: 1, cdn: 1},
		{name: "missing_fields: no fileEncSha256",
			item: add(samples.VideoMP4), edit: func(m map[string]any) { delete(m, "fileEncSha256") },
			status: "failed", reason: "missing_fields"},
		{name: "missing_fields: no directPath and an http url",
			item: add(samples.VideoMP4), edit: func(m map[string]any) {
				delete(m, "directPath")
				m["url"] = never.URL + "/v/t62.7161-24/x.enc"
			},
			status: "failed", reason: "missing_fields"},
		{name: "expired: CDN 404, W-API gone",
			item:   add(samples.DocumentPDF, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 404}), wasim.WithWAPIMode(wasim.WAPIGone)),
			status: "expired", reason: "expired", attempts: 1, cdn: 1, wapi: 1},
		{name: "expired: signature expired (403), W-API error answer",
			item:   add(samples.DocumentDOCX, wasim.ExpiredURL(), wasim.WithWAPIMode(wasim.WAPIError)),
			status: "expired", reason: "expired", attempts: 1, cdn: 1, wapi: 1},
		{name: "expired: CDN 410, W-API 500",
			item:   add(samples.AudioMP3, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 410}), wasim.WithWAPIMode(wasim.WAPIFailure)),
			status: "expired", reason: "expired", attempts: 1, cdn: 1, wapi: 1},
		{name: "http_error: CDN answers 400",
			item:   add(samples.StickerWebP, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultError, Status: 400})),
			status: "failed", reason: "http_error", attempts: 1, cdn: 1},
		{name: "http_error: redirect to 127.0.0.2 refused",
			item:   add(samples.ImagePNG, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultRedirect})),
			status: "failed", reason: "http_error", attempts: 1, cdn: 1},
		{name: "http_error: redirect to another port on 127.0.0.1 refused",
			item:   add(samples.ImagePNG, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultRedirect, Location: never.URL + "/x"})),
			status: "failed", reason: "http_error", attempts: 1, cdn: 1},
		{name: "http_error: https redirect to an IP refused",
			item:   add(samples.ImagePNG, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultRedirect, Location: neverURL + "/x"})),
			status: "failed", reason: "http_error", attempts: 1, cdn: 1},
		{name: "SSRF: no directPath, url on a host off the allowlist",
			item: add(samples.ImageJPEG), edit: func(m map[string]any) {
				delete(m, "directPath")
				m["url"] = "https://metadata.internal.example/v/t62.7118-24/x.enc?oh=1"
			},
			status: "failed", reason: "http_error", attempts: 1},
		{name: "SSRF: no directPath, url https://127.0.0.1/",
			item: add(samples.ImageJPEG), edit: func(m map[string]any) {
				delete(m, "directPath")
				m["url"] = "https://127.0.0.1/v/t62.7118-24/x.enc"
			},
			status: "failed", reason: "http_error", attempts: 1},
		{name: "SSRF: no directPath, url on another local port",
			item: add(samples.ImageJPEG), edit: func(m map[string]any) {
				delete(m, "directPath")
				m["url"] = neverURL + "/v/t62.7118-24/x.enc"
			},
			status: "failed", reason: "http_error", attempts: 1},
		{name: "timeout: the CDN stalls after the headers",
			item:   add(samples.VideoGIF, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultStall, After: 100})),
			status: "failed", reason: "timeout", attempts: 3, cdn: 3},
		{name: "too_large: over MAX_MEDIA_BYTES",
			item: large, status: "failed", reason: "too_large", attempts: 1, cdn: 1},
		{name: "truncated: a short blob on every try",
			item:   add(samples.VideoPTV, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultTruncate})),
			status: "failed", reason: "truncated", attempts: 3, cdn: 3},
		{name: "fallback: CDN 404, W-API fileLink",
			item:   add(samples.ImageJPEG, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 404}), wasim.WithWAPIMode(wasim.WAPIFileLink)),
			status: "success", attempts: 1, cdn: 1, wapi: 1, stored: true},
		{name: "fallback: CDN 410, W-API base64",
			item:   add(samples.AudioVoice, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 410}), wasim.WithWAPIMode(wasim.WAPIBase64)),
			status: "success", attempts: 1, cdn: 1, wapi: 1, stored: true},
		{name: "fallback: signature expired (403), W-API fileLink",
			item:   add(samples.VideoMP4, wasim.ExpiredURL()),
			status: "success", attempts: 1, cdn: 1, wapi: 1, stored: true},
	}

	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = p.send(c.item, c.edit)
	}
	rows := p.waitFinal(60*time.Second, ids...)
	stored := map[string]bool{}
	for i, c := range cases {
		r := rows[ids[i]]
		require.Equal(t, c.status, r.Status, "%s: reason %q", c.name, r.Reason)
		require.Equal(t, c.reason, r.Reason, c.name)
		require.Equal(t, c.attempts, r.Attempts, c.name)
		require.Equal(t, c.cdn, c.item.Requests(), "%s: CDN requests", c.name)
		require.Equal(t, c.wapi, c.item.WAPICalls(), "%s: download-media calls", c.name)
		if c.stored {
			p.requireStored(r, c.item)
			stored[r.Path] = true
		} else {
			require.Empty(t, r.Path, c.name)
		}
	}
	require.Zero(t, neverHits.Load(), "no request reached a host off the allowlist")
	for _, f := range p.files() {
		require.True(t, stored[f], "only verified files are stored, found %s", f)
	}
}

// TestTooLargeStreamsNothing sends a 256 MiB video to a downloader capped at
// 1 MiB: the row ends too_large, and the heap stays flat meanwhile.
func TestTooLargeStreamsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("registers a 256 MiB video")
	}
	t.Parallel()
	p := setup(t, pipelineOptions{env: map[string]string{"MAX_MEDIA_BYTES": "1MiB"}})
	const size = 256 << 20
	it, err := p.sim.AddMedia(samples.LargeVideoSample(size), samples.LargeVideo(size))
	require.NoError(t, err)

	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	r := p.waitOne(p.send(it, nil))
	close(stop)
	<-sampled
	require.Equal(t, "failed", r.Status)
	require.Equal(t, "too_large", r.Reason)
	require.EqualValues(t, 1, it.Requests())
	p.requireNothingStored()
	grew := int64(peak.Load()) - int64(base)
	t.Logf("heap: %d MiB before, peak %d MiB", base>>20, peak.Load()>>20)
	require.Less(t, grew, int64(16<<20), "the heap stays flat: nothing of the 256 MiB is buffered")
}

func heapBytes() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestRetriesAbsorbTransientFaults sends about a hundred distinct media
// through a CDN that fails 20% of requests with 500 and resets 10% of
// bodies midway: retries with backoff bring every item to success.
func TestRetriesAbsorbTransientFaults(t *testing.T) {
	t.Parallel()
	p := setup(t, pipelineOptions{maxDeliver: 12})
	require.NoError(t, p.sim.SetFaults(
		wasim.Fault{Kind: wasim.FaultError, Rate: 0.2, Status: 500},
		wasim.Fault{Kind: wasim.FaultReset, Rate: 0.1},
	))
	names := []string{samples.ImageJPEG, samples.ImagePNG, samples.VideoMP4, samples.AudioVoice,
		samples.AudioMP3, samples.DocumentPDF, samples.StickerWebP, samples.VideoPTV}
	n := 96
	if testing.Short() {
		n = 40
	}
	items := make([]*wasim.Item, n)
	for i := range items {
		items[i] = addSample(t, p.sim, variant(names[i%len(names)], i))
	}
	// One item is rate limited once: its retry waits for the Retry-After.
	limited := addSample(t, p.sim, variant(samples.ImageJPEG, -1),
		wasim.WithFaults(wasim.Fault{Kind: wasim.FaultRateLimit, Times: 1, RetryAfter: time.Second}))
	items = append(items, limited)

	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = p.send(it, nil)
	}
	rows := p.waitFinal(90*time.Second, ids...)
	retried := 0
	for i, it := range items {
		p.requireStored(rows[ids[i]], it)
		if rows[ids[i]].Attempts > 1 {
			retried++
		}
	}
	st := p.sim.Stats()
	t.Logf("%d items, %d retried; faults %v", len(items), retried, st.Faults)
	require.Positive(t, st.Faults[wasim.FaultError])
	require.Positive(t, st.Faults[wasim.FaultReset])
	require.Positive(t, retried)
	require.GreaterOrEqual(t, rows[ids[len(ids)-1]].Attempts, 2, "the rate-limited item was retried")
	require.Len(t, p.files(), len(items), "one file per item, no temporary file left")
}

// TestDeduplication forwards the same media in two messages of one cliente:
// two success rows, one file, one CDN fetch.
func TestDeduplication(t *testing.T) {
	t.Parallel()
	p := setup(t, pipelineOptions{})
	it := addSample(t, p.sim, variant(samples.VideoMP4, 0))

	first := p.waitOne(p.send(it, nil))
	p.requireStored(first, it)
	second := p.waitOne(p.send(it, func(m map[string]any) {
		m["contextInfo"] = map[string]any{"isForwarded": true, "forwardingScore": 1}
	}))
	p.requireStored(second, it)
	require.NotEqual(t, first.ID, second.ID, "two rows")
	require.Equal(t, first.Path, second.Path, "one file")
	require.Equal(t, []string{first.Path}, p.files())
	require.EqualValues(t, 1, it.Requests(), "one CDN fetch")
}

// TestDeduplicationConcurrent sends the same media in several messages at
// once: every row succeeds, they share one file, and the downloads of the
// same content wait for one another instead of fetching it again.
func TestDeduplicationConcurrent(t *testing.T) {
	t.Parallel()
	p := setup(t, pipelineOptions{})
	it := addSample(t, p.sim, variant(samples.ImageJPEG, 0))
	var ids []string
	for range 6 {
		ids = append(ids, p.send(it, nil))
	}
	rows := p.waitFinal(30*time.Second, ids...)
	paths := map[string]bool{}
	for _, r := range rows {
		p.requireStored(r, it)
		paths[r.Path] = true
	}
	require.Len(t, paths, 1)
	require.Len(t, p.files(), 1)
	require.EqualValues(t, 1, it.Requests(), "one CDN fetch")
}

// TestReprocess fails and expires media, removes the faults, and replays
// them with `mediapipe reprocess`: they are downloaded again and succeed;
// the success row is left alone.
func TestReprocess(t *testing.T) {
	t.Parallel()
	p := setup(t, pipelineOptions{maxDeliver: 2})
	broken := addSample(t, p.sim, variant(samples.ImagePNG, 0), wasim.WithFaults(wasim.Fault{Kind: wasim.FaultError, Status: 503}))
	gone := addSample(t, p.sim, variant(samples.DocumentPDF, 0),
		wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 404}), wasim.WithWAPIMode(wasim.WAPIGone))
	corrupt := addSample(t, p.sim, variant(samples.AudioMP3, 0), wasim.WithFaults(wasim.Fault{Kind: wasim.FaultCorrupt}))
	fine := addSample(t, p.sim, variant(samples.ImageJPEG, 0))
	missing := addSample(t, p.sim, variant(samples.VideoMP4, 0))

	items := []*wasim.Item{broken, gone, corrupt, fine}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = p.send(it, nil)
	}
	missingID := p.send(missing, func(m map[string]any) { delete(m, "mediaKey") })
	rows := p.waitFinal(30*time.Second, append(ids, missingID)...)
	require.Equal(t, "failed/http_error", rows[ids[0]].Status+"/"+rows[ids[0]].Reason)
	require.Equal(t, "expired/expired", rows[ids[1]].Status+"/"+rows[ids[1]].Reason)
	require.Equal(t, "failed/enc_hash_mismatch", rows[ids[2]].Status+"/"+rows[ids[2]].Reason)
	require.Equal(t, "failed/missing_fields", rows[missingID].Status+"/"+rows[missingID].Reason)
	p.requireStored(rows[ids[3]], fine)
	fineRequests := fine.Requests()

	for _, it := range []*wasim.Item{broken, gone, corrupt} {
		require.NoError(t, it.SetFaults())
	}
	var stdout, stderr bytes.Buffer
	env := map[string]string{
		"DATABASE_URL": p.dbURL, "NATS_URL": p.natsURL, "DATA_DIR": t.TempDir(),
		"LOG_FORMAT": "json", "LOG_LEVEL": "warn",
	}
	code := cli.Main(context.Background(), cli.IO{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	}, []string{"reprocess"})
	require.Equal(t, cli.ExitOK, code, stderr.String())
	require.Contains(t, stdout.String(), "reset 3 rows to pending and queued 3 download jobs")

	deadline := time.Now().Add(30 * time.Second)
	for {
		rows = p.rows(ids)
		if rows[ids[0]].Status == "success" && rows[ids[1]].Status == "success" && rows[ids[2]].Status == "success" {
			break
		}
		require.True(t, time.Now().Before(deadline), "replayed rows did not succeed: %+v", rows)
		time.Sleep(10 * time.Millisecond)
	}
	for i, it := range items {
		p.requireStored(rows[ids[i]], it)
	}
	require.Equal(t, 3, rows[ids[0]].Attempts, "two failed deliveries, one replay")
	require.Equal(t, fineRequests, fine.Requests(), "the success row was not replayed")
	r := p.rows([]string{missingID})[missingID]
	require.Equal(t, "failed/missing_fields", r.Status+"/"+r.Reason, "nothing to download: not replayed")
}

// TestHeartBeatsKeepLongDownload streams a download for several times the
// consumer's AckWait: the heart-beats keep the job from being redelivered
// while it runs, so it is fetched and attempted once.
func TestHeartBeatsKeepLongDownload(t *testing.T) {
	t.Parallel()
	p := setup(t, pipelineOptions{ackWait: time.Second})
	it, err := p.sim.AddMedia(samples.LargeVideoSample(3<<20/2), samples.LargeVideo(3<<20/2),
		wasim.WithFaults(wasim.Fault{Kind: wasim.FaultSlow, BytesPerSecond: 512 << 10}))
	require.NoError(t, err)
	start := time.Now()
	r := p.waitOne(p.send(it, nil))
	require.Greater(t, time.Since(start), 2*time.Second, "the download outlived AckWait")
	p.requireStored(r, it)
	require.Equal(t, 1, r.Attempts)
	require.EqualValues(t, 1, it.Requests())
	cons, err := p.js.Consumer(context.Background(), bus.StreamDownloads, bus.ConsumerDownloader)
	require.NoError(t, err)
	info, err := cons.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, info.NumRedelivered, "no delivery timed out")
	require.EqualValues(t, 1, info.Delivered.Consumer)
}

// TestLargeMediaPath sends a video above largeMedia (hashed, decrypted and
// written on three goroutines) through a body reset, a corrupt body (the
// verification must fail and leave nothing behind) and then a clean one.
func TestLargeMediaPath(t *testing.T) {
	if testing.Short() {
		t.Skip("registers a 24 MiB video")
	}
	t.Parallel()
	p := setup(t, pipelineOptions{})
	const size = 24 << 20
	it, err := p.sim.AddMedia(samples.LargeVideoSample(size), samples.LargeVideo(size),
		wasim.WithFaults(
			wasim.Fault{Kind: wasim.FaultReset, Times: 1},
			wasim.Fault{Kind: wasim.FaultCorrupt, Times: 1},
		))
	require.NoError(t, err)
	require.GreaterOrEqual(t, it.FileLength, int64(downloader.LargeMedia), "takes the large-file path")
	r := p.waitOne(p.send(it, nil))
	p.requireStored(r, it)
	require.GreaterOrEqual(t, r.Attempts, 2, "the faults cost attempts")
	for _, f := range p.files() {
		require.False(t, strings.HasSuffix(f, ".part"), "no temporary file is left: %s", f)
	}
}
