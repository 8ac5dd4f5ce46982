package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/config"
	"github.com/multichat/mediapipe/internal/pgtest"
)

const pro = "3B6XIW-ZTS923-GEAY6V" // the instance of the samples used here

type testBundle struct {
	ctx    context.Context // ends with the test
	store  *catalog.Store
	dbURL  string
	secret string // pro's webhook secret
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := testCtx(t)
	store, dbURL := pgtest.NewStore(t)
	res, err := operator.New(store).Register(ctx, "Padaria Estrela", pro, "wapi-token")
	require.NoError(t, err)
	return &testBundle{ctx: ctx, store: store, dbURL: dbURL, secret: res.WebhookSecret}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// config returns the configuration of a process on the test's schema with
// its state under dataDir; env overrides the environment.
func (b *testBundle) config(t *testing.T, dataDir string, env map[string]string) config.Config {
	t.Helper()
	cfg, errs := config.Load(func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k {
		case "DATABASE_URL":
			return b.dbURL
		case "DATA_DIR":
			return dataDir
		}
		return ""
	})
	require.Empty(t, errs)
	require.NoError(t, cfg.Validate())
	return cfg
}

// options runs the first half of the pipeline (no downloader: it would
// fetch from WhatsApp) with quick redelivery.
func options() app.Options {
	return app.Options{
		Roles:       app.Roles{Ingest: true, Analyzer: true},
		Topology:    &bus.Topology{AnalyzerAckWait: 3 * time.Second, AnalyzerMaxDeliver: 100},
		BackoffBase: 20 * time.Millisecond,
		BackoffMax:  200 * time.Millisecond,
	}
}

// open opens an App listening on a free port of 127.0.0.1.
func open(t *testing.T, cfg config.Config, opts app.Options) *app.App {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	opts.Listener = ln
	a, err := app.Open(testCtx(t), cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), opts)
	require.NoError(t, err)
	return a
}

// run starts a.Run. stop cancels its context and returns Run's error and how
// long Run took to return; it also runs when the test ends.
func run(t *testing.T, a *app.App) (stop func() (error, time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var (
		once sync.Once
		err  error
		took time.Duration
	)
	//lint:ignore ST1008 the error is the result; the duration is a measurement beside it
	stop = func() (error, time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				err = fmt.Errorf("Run did not return within a minute")
			}
			took = time.Since(start)
		})
		return err, took
	}
	t.Cleanup(func() {
		err, _ := stop()
		require.NoError(t, err)
	})
	return stop
}

var client = &http.Client{Timeout: 30 * time.Second}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "pkg", "wapi", "testdata", name))
	require.NoError(t, err)
	return body
}

// withMessageID returns body with its (first, top-level) messageId replaced.
func withMessageID(t *testing.T, body []byte, id string) []byte {
	t.Helper()
	const key = `"messageId": "`
	i := bytes.Index(body, []byte(key))
	require.GreaterOrEqual(t, i, 0)
	i += len(key)
	j := bytes.IndexByte(body[i:], '"')
	return slices.Concat(body[:i], []byte(id), body[i+j:])
}

func messageID(t *testing.T, body []byte) string {
	t.Helper()
	const key = `"messageId": "`
	i := bytes.Index(body, []byte(key))
	require.GreaterOrEqual(t, i, 0)
	rest := body[i+len(key):]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

// post sends a webhook with token and returns the status, the answer and
// its Retry-After header.
func post(t *testing.T, a *app.App, body []byte, token string) (int, map[string]any, string) {
	t.Helper()
	resp, err := client.Post("http://"+a.Addr()+"/webhooks/wapi?token="+url.QueryEscape(token), "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out, resp.Header.Get("Retry-After")
}

func get(t *testing.T, a *app.App, path string) (int, string) {
	t.Helper()
	resp, err := client.Get("http://" + a.Addr() + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// status returns the download_status of a message's row, or "" when there
// is none.
func (b *testBundle) status(t *testing.T, messageID string) string {
	t.Helper()
	var s string
	err := pgtest.DB(t, b.store).QueryRow(b.ctx, `SELECT coalesce(max(download_status), '') FROM media_files
		WHERE instance_id = $1 AND message_id = $2`, pro, messageID).Scan(&s)
	require.NoError(t, err)
	return s
}

func (b *testBundle) messageIDs(t *testing.T) map[string]bool {
	t.Helper()
	rows, err := pgtest.DB(t, b.store).Query(b.ctx, `SELECT message_id FROM media_files`)
	require.NoError(t, err)
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids[id] = true
	}
	require.NoError(t, rows.Err())
	return ids
}

// warmUp posts a webhook and waits for its row, so that every role of a is
// running (a consumer that cannot be opened at start stops the process).
func (b *testBundle) warmUp(t *testing.T, a *app.App) {
	t.Helper()
	body := sample(t, "video.json")
	code, _, _ := post(t, a, body, b.secret)
	require.Equal(t, http.StatusAccepted, code)
	require.Eventually(t, func() bool { return b.status(t, messageID(t, body)) != "" }, 10*time.Second, 20*time.Millisecond)
}

func TestAppRecordsPostedWebhooksAndServesHealthAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := open(t, b.config(t, t.TempDir(), nil), options())
	run(t, a)

	code, body := get(t, a, "/healthz")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"ok"}`, body)
	code, body = get(t, a, "/readyz")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"status":"ready"}`, body)

	image := sample(t, "image.json")
	code, out, _ := post(t, a, image, b.secret)
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, map[string]any{"accepted": true}, out)
	code, _, _ = post(t, a, sample(t, "received_text.json"), b.secret)
	require.Equal(t, http.StatusAccepted, code)
	code, out, _ = post(t, a, sample(t, "video.json"), "not-the-secret")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "unauthorized", out["reason"])

	require.Eventually(t, func() bool { return b.status(t, messageID(t, image)) == "pending" },
		10*time.Second, 20*time.Millisecond, "the posted image gets its row")
	require.Len(t, b.messageIDs(t), 1, "no row for the text, none for the refused video")

	require.Eventually(t, func() bool {
		code, metrics := get(t, a, "/metrics")
		return code == http.StatusOK &&
			strings.Contains(metrics, `mediapipe_webhooks_total{outcome="accepted",provider="wapi"} 2`) &&
			strings.Contains(metrics, `mediapipe_webhooks_total{outcome="unauthorized",provider="wapi"} 1`) &&
			strings.Contains(metrics, `mediapipe_analyzer_webhooks_total{provider="wapi"} 2`) &&
			strings.Contains(metrics, `mediapipe_analyzer_media_total{provider="wapi"} 1`) &&
			strings.Contains(metrics, `mediapipe_consumer_pending_messages{consumer="analyzer",stream="WEBHOOKS"} 0`) &&
			strings.Contains(metrics, `mediapipe_readiness_check{check="postgres"} 1`) &&
			strings.Contains(metrics, `mediapipe_http_request_duration_seconds_count{code="202",route="webhooks"} 2`) &&
			strings.Contains(metrics, `mediapipe_http_request_duration_seconds_count{code="401",route="webhooks"} 1`) &&
			strings.Contains(metrics, `mediapipe_handler_duration_seconds_count{stage="analyzer"}`)
	}, 10*time.Second, 20*time.Millisecond)
}

// proxy forwards TCP connections to target; cutting it makes the target
// unreachable for everything connected through it, as a network failure or
// a stopped server would.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{target: target, conns: map[net.Conn]bool{}}
	p.listen(t, "127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) listen(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.serve(ln)
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // cut meanwhile
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(u, c)
		go pipe(c, u)
	}
}

// cut closes the listener and every forwarded connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens again on the same address.
func (p *proxy) restore(t *testing.T) { p.listen(t, p.addr) }

func TestAppReadinessFollowsPostgreSQL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, dbURL := b.proxiedDB(t)
	a := open(t, b.config(t, t.TempDir(), map[string]string{"DATABASE_URL": dbURL}), options())
	run(t, a)

	code, body := get(t, a, "/readyz")
	require.Equal(t, http.StatusOK, code, body)

	p.cut()
	require.Eventually(t, func() bool {
		code, body = get(t, a, "/readyz")
		return code == http.StatusServiceUnavailable
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, body, "postgres: unreachable")
	require.NotContains(t, body, "nats")
	code, _ = get(t, a, "/healthz")
	require.Equal(t, http.StatusOK, code, "liveness does not depend on PostgreSQL")

	// The ingest never touches PostgreSQL on the request path: a webhook
	// posted now is accepted and recorded once the database is back.
	image := sample(t, "image.json")
	code, _, _ = post(t, a, image, b.secret)
	require.Equal(t, http.StatusAccepted, code)

	p.restore(t)
	require.Eventually(t, func() bool {
		code, body = get(t, a, "/readyz")
		return code == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "ready again: %s", body)
	require.Eventually(t, func() bool { return b.status(t, messageID(t, image)) == "pending" },
		20*time.Second, 50*time.Millisecond)
}

func TestAppAnswers503WhenJetStreamCannotTakeWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := open(t, b.config(t, t.TempDir(), nil), options())
	run(t, a)
	ctx := b.ctx
	b.warmUp(t, a)

	require.NoError(t, a.JS.DeleteStream(ctx, bus.StreamWebhooks))
	image := sample(t, "image.json")
	code, out, retry := post(t, a, image, b.secret)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "unavailable", out["reason"])
	require.Equal(t, false, out["accepted"])
	require.NotEmpty(t, retry, "W-API is told when to retry")
	_, metrics := get(t, a, "/metrics")
	require.Contains(t, metrics, `mediapipe_webhooks_total{outcome="unavailable",provider="wapi"} 1`)

	// W-API's retry, once the stream is back, is accepted and recorded once.
	require.NoError(t, bus.Setup(ctx, a.JS, *options().Topology))
	require.Len(t, b.messageIDs(t), 1, "nothing was recorded for the refused webhook")
	code, _, _ = post(t, a, image, b.secret)
	require.Equal(t, http.StatusAccepted, code)
	require.Eventually(t, func() bool { return b.status(t, messageID(t, image)) == "pending" },
		10*time.Second, 20*time.Millisecond)
	require.Len(t, b.messageIDs(t), 2)
}

// startNATS starts a NATS server outside the App, on port (0: any) and
// storing under dir, so that the test can stop and restart it.
func startNATS(t *testing.T, dir string, port int) (*server.Server, string) {
	t.Helper()
	var (
		srv *server.Server
		u   string
		err error
	)
	// A restart's port may linger briefly in the kernel.
	require.Eventually(t, func() bool {
		srv, u, err = bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, Port: port})
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "starting NATS: %v", err)
	t.Cleanup(func() { bus.ShutdownEmbedded(srv) })
	return srv, u
}

func TestAppReadinessFollowsNATS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	natsDir := t.TempDir()
	srv, natsURL := startNATS(t, natsDir, 0)
	port := srv.Addr().(*net.TCPAddr).Port
	a := open(t, b.config(t, t.TempDir(), map[string]string{"NATS_URL": natsURL}), options())
	run(t, a)
	b.warmUp(t, a)

	code, body := get(t, a, "/readyz")
	require.Equal(t, http.StatusOK, code, body)

	bus.ShutdownEmbedded(srv)
	require.Eventually(t, func() bool {
		code, body = get(t, a, "/readyz")
		return code == http.StatusServiceUnavailable
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, body, "nats:")
	require.NotContains(t, body, "postgres")

	image := sample(t, "image.json")
	start := time.Now()
	code, out, _ := post(t, a, image, b.secret)
	require.Equal(t, http.StatusServiceUnavailable, code, "no 2xx without a JetStream ack")
	require.Equal(t, "unavailable", out["reason"])
	require.Less(t, time.Since(start), time.Second, "refused at once, not after the publish timeout")

	startNATS(t, natsDir, port)
	require.Eventually(t, func() bool {
		code, body = get(t, a, "/readyz")
		return code == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "ready again after the reconnect: %s", body)

	// W-API's retry is new to the stream (the refused webhook was not
	// buffered and sent after all) and is recorded once.
	code, out, _ = post(t, a, image, b.secret)
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, map[string]any{"accepted": true}, out, "not a duplicate")
	st, err := a.JS.Stream(b.ctx, bus.StreamWebhooks)
	require.NoError(t, err)
	info, err := st.Info(b.ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs, "the warm-up webhook and the retry")
	require.Eventually(t, func() bool { return b.status(t, messageID(t, image)) == "pending" },
		10*time.Second, 20*time.Millisecond)
	require.Len(t, b.messageIDs(t), 2)
}

// TestAppStopsGracefullyAndLosesNothing stops a process while webhooks are
// being posted and the analyzer is in the middle of a batch (held up by a lock
// on media_files), then starts a new process on the same DATA_DIR and
// database: every webhook that was answered 202 ends up as a row.
func TestAppStopsGracefullyAndLosesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.ctx
	cfg := b.config(t, t.TempDir(), nil)
	first := open(t, cfg, options())
	stop := run(t, first)

	var templates [][]byte
	for _, name := range []string{"image.json", "video.json", "audio_ptt.json", "document.json", "sticker.json", "ptv.json"} {
		templates = append(templates, sample(t, name))
	}
	const n = 3000
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = withMessageID(t, templates[i%len(templates)], fmt.Sprintf("3EB0STOP%012X", i))
	}
	codes := make([]int, n)
	var accepted atomic.Int64
	next := make(chan int)
	var posters sync.WaitGroup
	target := "http://" + first.Addr() + "/webhooks/wapi?token=" + url.QueryEscape(b.secret)
	for range 8 {
		posters.Go(func() {
			for i := range next {
				resp, err := client.Post(target, "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					continue // refused: the server is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[i] = resp.StatusCode
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		})
	}
	go func() {
		defer close(next)
		for i := range n {
			next <- i
		}
	}()

	require.Eventually(t, func() bool { return len(b.messageIDs(t)) >= 20 }, 30*time.Second, 5*time.Millisecond)
	lock, err := pgtest.DB(t, b.store).Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = lock.Rollback(ctx) }()
	_, err = lock.Exec(ctx, `LOCK TABLE media_files IN SHARE MODE`) // inserts wait, reads do not
	require.NoError(t, err)
	atLock := len(b.messageIDs(t))
	require.Eventually(t, func() bool { return accepted.Load() >= int64(atLock)+300 }, 30*time.Second, 5*time.Millisecond,
		"a backlog builds up while the analyzer waits")

	stopped := make(chan struct{})
	var (
		runErr error
		took   time.Duration
	)
	go func() {
		runErr, took = stop()
		close(stopped)
	}()
	require.Never(t, func() bool {
		select {
		case <-stopped:
			return true
		default:
			return false
		}
	}, 300*time.Millisecond, 10*time.Millisecond, "Run waits for the batch in flight")
	require.NoError(t, lock.Rollback(ctx))
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the batch in flight finished")
	}
	require.NoError(t, runErr)
	require.Less(t, took, 20*time.Second, "Run returns within its stop timeouts")
	posters.Wait()
	atStop := len(b.messageIDs(t))

	want := map[string]bool{}
	for i, code := range codes {
		require.Contains(t, []int{0, http.StatusAccepted}, code, "webhook %d", i)
		if code == http.StatusAccepted {
			want[messageID(t, bodies[i])] = true
		}
	}
	require.Greater(t, len(want), atStop, "work was left for the next process")
	t.Logf("stopped in %s; %d of %d webhooks accepted, %d recorded when the lock was taken, %d at the stop",
		took, len(want), n, atLock, atStop)

	second := open(t, cfg, options())
	run(t, second)
	require.Eventually(t, func() bool {
		ids := b.messageIDs(t)
		for id := range want {
			if !ids[id] {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "every accepted webhook is recorded")
	posted := map[string]bool{}
	for _, body := range bodies {
		posted[messageID(t, body)] = true
	}
	for id := range b.messageIDs(t) {
		require.True(t, posted[id], "row %s was never posted", id)
	}
}
