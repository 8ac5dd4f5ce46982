package chaos_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/s3test"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/provider"
	wh "github.com/multichat/mediapipe/pkg/webhook"
)

// chaosWebhooks is how many webhooks TestChaos posts;
// MEDIAPIPE_CHAOS_WEBHOOKS overrides it for longer local runs.
const chaosWebhooks = 5300

// role is one kind of mediapipe process, restarted under the same name.
type role struct {
	name, command string
	addr          string
	log           *proctest.LockedBuffer
	p             *proctest.Proc
	starts        int
}

// cluster is the deployment under test.
type cluster struct {
	t     *testing.T
	pg    *postgres
	nats  *natsServer
	sim   *wasim.Server
	store *catalog.Store
	media string
	vars  map[string]string
	roles []*role

	// The S3 variant: the gateway, the fault proxy the processes reach it
	// through, and the store as the test reads it.
	s3      *s3test.Server
	s3proxy *s3Faults
	blobs   *blob.S3
}

func (c *cluster) role(name string) *role {
	for _, r := range c.roles {
		if r.name == name {
			return r
		}
	}
	c.t.Fatalf("no role %s", name)
	return nil
}

// start starts (or restarts) a role and waits until it is ready.
func (c *cluster) start(r *role) {
	c.t.Helper()
	r.starts++
	fmt.Fprintf(r.log, "=== start %d of %s\n", r.starts, r.name)
	r.p = proctest.Start(c.t, proctest.Command{
		Name: r.name, Path: mediapipeBin.Path, Args: []string{r.command},
		Env: proctest.Environ(map[string]string{"HTTP_ADDR": r.addr}, c.vars), Addr: r.addr, Log: r.log,
	})
	r.p.WaitReady(90 * time.Second)
}

// kill kill -9's a role and starts it again at once; a process that died
// by itself meanwhile fails the test.
func (c *cluster) kill(r *role) {
	c.t.Helper()
	require.True(c.t, r.p.Running(), "%s died by itself: %v\n%s", r.name, r.p.Err(), proctest.Tail(r.log.String(), 4000))
	halt(c.t, r.p, syscall.SIGKILL, 10*time.Second)
	c.start(r)
}

func newCluster(t *testing.T, onS3 bool) *cluster {
	t.Helper()
	c := &cluster{t: t}
	c.pg = startPostgres(t)
	c.nats = startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, _, err := catalog.Migrate(ctx, c.pg.URL)
	require.NoError(t, err)
	c.store, err = catalog.Open(ctx, c.pg.URL)
	require.NoError(t, err)
	t.Cleanup(c.store.Close)
	c.sim, err = wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { c.sim.Close() })
	data := t.TempDir()
	c.media = filepath.Join(data, "media")
	c.vars = proctest.MediapipeEnv(c.pg.URL, c.nats.URL, data, c.sim)
	c.vars["DOWNLOAD_WORKERS"] = "4"
	if onS3 {
		c.s3 = s3test.Start(t)
		c.s3proxy = newS3Faults(t, c.s3.Endpoint)
		c.vars["MEDIA_STORE"] = "s3://" + c.s3.Bucket + "/chaos"
		for _, kv := range c.s3.Env() {
			k, v, _ := strings.Cut(kv, "=")
			c.vars[k] = v
		}
		c.vars["AWS_ENDPOINT_URL_S3"] = c.s3proxy.URL
		c.blobs, err = blob.NewS3(ctx, blob.S3Options{Bucket: c.s3.Bucket, Prefix: "chaos", Endpoint: c.s3.Endpoint,
			Region: s3test.Region, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
		require.NoError(t, err)
	}
	for _, r := range []struct{ name, command string }{
		{"ingest", "ingest"}, {"analyzer-1", "analyzer"}, {"analyzer-2", "analyzer"},
		{"downloader-1", "downloader"}, {"downloader-2", "downloader"},
	} {
		c.roles = append(c.roles, &role{name: r.name, command: r.command, addr: proctest.FreeAddr(t), log: &proctest.LockedBuffer{}})
	}
	t.Cleanup(func() {
		for _, r := range c.roles {
			if r.p != nil {
				halt(t, r.p, syscall.SIGKILL, 10*time.Second)
			}
			if t.Failed() {
				t.Logf("--- log of %s (%d starts):\n%s", r.name, r.starts, proctest.Tail(r.log.String(), 3000))
			}
		}
	})
	return c
}

// chaosItems registers media with the simulator: every sample (two of them
// hostile, which must fail with type_mismatch) and n small distinct files,
// some with one-off CDN faults (a 500, a reset, a corrupted body) and some
// expired on the CDN (stored through W-API's download-media instead). It
// returns the items and the status each must end in.
func chaosItems(t *testing.T, sim *wasim.Server, n int) ([]*wasim.Item, map[*wasim.Item]string) {
	t.Helper()
	want := map[*wasim.Item]string{}
	var items []*wasim.Item
	for _, s := range samples.All() {
		it, err := sim.AddSample(s)
		require.NoError(t, err)
		items = append(items, it)
		want[it] = "success"
		if s.Hostile {
			want[it] = "failed"
		}
	}
	for i := range n {
		var meta samples.Sample
		var data []byte
		switch i % 4 {
		case 0:
			meta, data = samples.ByName(samples.ImageJPEG), samples.JPEG(16+i%50, 16+i/50)
		case 1:
			meta, data = samples.ByName(samples.DocumentPDF), samples.PDF(fmt.Sprintf("chaos document %d", i))
			meta.PageCount = 1
		case 2:
			meta, data = samples.ByName(samples.VideoMP4), samples.MP4(64, 48, 1+i%5, 1024+i)
		case 3:
			meta, data = samples.ByName(samples.StickerWebP), samples.WebP(16+i%100, 16+i/100)
			meta.Width, meta.Height = 16+i%100, 16+i/100
		}
		var opts []wasim.ItemOption
		switch {
		case i%20 == 0:
			opts = append(opts, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultError, Status: 503, Times: 1}))
		case i%25 == 1:
			opts = append(opts, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultReset, Times: 1}))
		case i%40 == 2:
			opts = append(opts, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultCorrupt, Times: 1}))
		}
		it, err := sim.AddMedia(meta, bytes.NewReader(data), opts...)
		require.NoError(t, err)
		if i%50 == 3 {
			require.NoError(t, it.Expire(http.StatusNotFound))
		}
		items = append(items, it)
		want[it] = "success"
	}
	return items, want
}

// acceptance records, per webhook body, whether the ingest accepted it.
type acceptance struct {
	base      http.RoundTripper
	mu        sync.Mutex
	accepted  map[[32]byte]bool
	answered  atomic.Int64 // requests answered (any status) or failed
	byStatus  map[int]int
	transport int // requests with no answer
}

func (a *acceptance) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(raw)
	resp, err := a.base.RoundTrip(req)
	a.mu.Lock()
	if err != nil {
		a.transport++
	} else {
		a.byStatus[resp.StatusCode]++
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			a.accepted[key] = true
		}
	}
	a.mu.Unlock()
	a.answered.Add(1)
	return resp, err
}

func (a *acceptance) isAccepted(body []byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepted[sha256.Sum256(body)]
}

// postResult is what the poster goroutine did.
type postResult struct {
	rounds  int
	givenUp []wasim.Hook
	err     error
}

// postUntilAccepted posts every hook once (duplicates included, as W-API
// sends them), then, like W-API, posts again every webhook that got no 2xx,
// round after round, until all are accepted or the deadline passes.
func postUntilAccepted(ctx context.Context, poster *wasim.Poster, acc *acceptance, hooks []wasim.Hook, ingestURL string, deadline time.Time) postResult {
	var res postResult
	todo := hooks
	for len(todo) > 0 {
		res.rounds++
		if _, err := poster.Post(ctx, todo); err != nil {
			res.err = err
			return res
		}
		seen := map[[32]byte]bool{}
		var next []wasim.Hook
		for _, h := range todo {
			k := sha256.Sum256(h.Body)
			if !acc.isAccepted(h.Body) && !seen[k] {
				seen[k] = true
				next = append(next, h)
			}
		}
		todo = next
		if len(todo) == 0 {
			break
		}
		if time.Now().After(deadline) {
			res.givenUp = todo
			return res
		}
		// W-API backs off before it retries: wait for the ingest to be
		// ready again (NATS back), bounded by the deadline.
		client := &http.Client{Timeout: time.Second}
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if resp, err := client.Get(ingestURL + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return res
}

// providerCounts is the "provider ..." part of counts.
func providerCounts(counts map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range counts {
		if p, ok := strings.CutPrefix(k, "provider "); ok {
			out[p] = n
		}
	}
	return out
}

// hasFault reports whether one of it's own faults is of kind: expired (gone
// from the CDN, and so from the providers' file servers, which follow the
// item's faults) or corrupt (one answer corrupted on purpose).
func hasFault(it *wasim.Item, kind wasim.FaultKind) bool {
	for _, f := range it.Faults() {
		if f.Kind == kind {
			return true
		}
	}
	return false
}

type event struct {
	name string
	do   func()
}

// TestChaos: thousands of webhooks of every kind through the real ingest
// while analyzers and downloaders are kill -9'd and restarted, NATS is
// restarted twice (once cleanly, once by kill -9) and PostgreSQL once (an
// immediate stop: every backend killed, crash recovery at the next start).
// Afterwards, for every webhook the ingest accepted (2xx): its media is in
// media_files exactly once, in a final status (success, or failed for the
// hostile samples); every success file is where the row says and matches
// its sha256; no temporary file is left; no file is stored twice and none
// without a row; and the WEBHOOKS stream holds each accepted webhook once.
func TestChaos(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	runChaos(t, false)
}

// TestChaosS3 is TestChaos with the media in an S3 bucket (a real
// versitygw, reached through a proxy that answers 2 % of requests 500 and
// delays 5 %), restarted mid-run besides the other faults. Afterwards, on
// top of TestChaos's checks: every success row's object exists under the
// prefix and hashes to the row, no object without a row, and no multipart
// upload or hidden temporary object left.
func TestChaosS3(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	runChaos(t, true)
}

func runChaos(t *testing.T, onS3 bool) {
	began := time.Now()
	n := chaosWebhooks
	if onS3 {
		n = chaosWebhooks / 2
	}
	if v, err := strconv.Atoi(os.Getenv("MEDIAPIPE_CHAOS_WEBHOOKS")); err == nil && v > 0 {
		n = v
	}
	c := newCluster(t, onS3)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // stops the poster if the test ends early

	secrets, wapiTokens := map[string]string{}, map[string]string{}
	instances := []string{wasim.InstancePro, wasim.InstanceLite}
	for i, inst := range instances {
		tok := "wapi-chaos-token-" + strconv.Itoa(i) + "-" + hex.EncodeToString([]byte(inst))[:12]
		res, err := operator.New(c.store).Register(ctx, "Cliente caos "+strconv.Itoa(i), inst, tok)
		require.NoError(t, err)
		secrets[inst], wapiTokens[inst] = res.WebhookSecret, tok
		c.sim.AddInstance(inst, tok)
	}
	// One instance of every other provider, under a third cliente.
	providers, appSecrets := map[string]wasim.Provider{}, map[string]string{}
	for _, in := range []catalog.Instance{
		{ID: "EVO-CAOS", Provider: wh.Evolution, Credentials: catalog.Credentials{BaseURL: c.sim.EvolutionBaseURL()}},
		{ID: "waha-caos", Provider: wh.WAHA, Credentials: catalog.Credentials{BaseURL: c.sim.WAHABaseURL()}},
		{ID: "3C01A9E5F1B2C3D4E5F6A7B8C9D0CA05", Provider: wh.ZAPI},
		{ID: "106540352242905", Provider: wh.Meta, Credentials: catalog.Credentials{AppSecret: "meta-chaos-app-secret", VerifyToken: "v"}},
	} {
		key := "chaos-key-" + in.ID
		if in.Provider != wh.ZAPI {
			in.Credentials.APIKey = key
		}
		res, err := operator.New(c.store).RegisterInstance(ctx, "Cliente caos provedores", in)
		require.NoError(t, err)
		secrets[in.ID], providers[in.ID] = res.WebhookSecret, wasim.Provider(in.Provider)
		if in.Credentials.AppSecret != "" {
			appSecrets[in.ID] = in.Credentials.AppSecret
		}
		c.sim.AddInstance(in.ID, key)
		instances = append(instances, in.ID)
		wapiTokens[in.ID] = in.Credentials.APIKey // checked for leaks with the W-API tokens
		if in.Credentials.AppSecret != "" {
			wapiTokens[in.ID+" app secret"] = in.Credentials.AppSecret
		}
	}
	items, wantStatus := chaosItems(t, c.sim, 400)
	// Some CDN answers are slow, so that a killed downloader has downloads
	// in flight.
	require.NoError(t, c.sim.SetFaults(wasim.Fault{Kind: wasim.FaultLatency, Delay: 300 * time.Millisecond, Rate: 0.3}))
	hooks := c.sim.Mix(wasim.MixOptions{N: n, Items: items, Instances: instances, Providers: providers, Seed: 20260525, DuplicateRate: 0.05})

	for _, r := range c.roles {
		c.start(r)
	}
	ingestURL := "http://" + c.role("ingest").addr
	js := connectJS(t, c.nats.URL)

	acc := &acceptance{base: http.DefaultTransport.(*http.Transport).Clone(), accepted: map[[32]byte]bool{}, byStatus: map[int]int{}}
	poster := &wasim.Poster{
		Target: ingestURL + "/webhooks/wapi", Secrets: secrets, AppSecrets: appSecrets, Concurrency: 8,
		Rate: float64(n) / 60, Burst: 8,
		Client: &http.Client{Transport: acc, Timeout: 30 * time.Second},
	}
	posted := make(chan postResult, 1)
	go func() { posted <- postUntilAccepted(ctx, poster, acc, hooks, ingestURL, time.Now().Add(3*time.Minute)) }()

	// The faults, each once the poster has gone a step further through the
	// first round, so that every one of them hits a pipeline under load.
	var restarts []string
	a1, a2, d1, d2 := c.role("analyzer-1"), c.role("analyzer-2"), c.role("downloader-1"), c.role("downloader-2")
	// An outage lasts until the ingest reports itself unready (NATS or
	// PostgreSQL unreachable), until webhooks were refused with 503 (NATS)
	// and until the poster got more answers (PostgreSQL: the analyzers
	// fall behind); at most 8 s.
	outage := func(refusals, answers int) func() {
		return func() {
			answered := acc.answered.Load()
			acc.mu.Lock()
			refused := acc.byStatus[http.StatusServiceUnavailable]
			acc.mu.Unlock()
			client := &http.Client{Timeout: time.Second}
			unready := false
			for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if resp, err := client.Get(ingestURL + "/readyz"); err == nil {
					resp.Body.Close()
					unready = unready || resp.StatusCode == http.StatusServiceUnavailable
				}
				acc.mu.Lock()
				more := acc.byStatus[http.StatusServiceUnavailable] - refused
				acc.mu.Unlock()
				if unready && more >= refusals && acc.answered.Load() >= answered+int64(answers) {
					return
				}
			}
		}
	}
	killRole := func(r *role) event {
		return event{"kill -9 " + r.name, func() { c.kill(r) }}
	}
	events := []event{
		killRole(a1), killRole(d1),
		{"restart NATS (SIGTERM)", func() { c.nats.restart(t, syscall.SIGTERM, outage(40, 0)) }},
		killRole(a2), killRole(d2),
		{"restart PostgreSQL (immediate)", func() { c.pg.restart(t, outage(0, 200)) }},
		killRole(a1), killRole(d1),
		{"restart NATS (kill -9)", func() { c.nats.restart(t, syscall.SIGKILL, outage(40, 0)) }},
		killRole(d2), killRole(a2), killRole(d1),
	}
	if onS3 {
		events = append(events[:3:3], append([]event{{"restart S3", func() { c.s3.Restart(t) }}}, events[3:]...)...)
		events = append(events, event{"restart S3", func() { c.s3.Restart(t) }})
	}
	var res postResult
	postDone := false
	for i, ev := range events {
		threshold := int64((i + 1) * len(hooks) / (len(events) + 1))
		for !postDone && acc.answered.Load() < threshold {
			select {
			case res = <-posted:
				postDone = true
			case <-time.After(20 * time.Millisecond):
			}
		}
		start := time.Now()
		var downloading int
		qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
		_ = pgtest.Pool(t, c.pg.URL).QueryRow(qctx, `SELECT count(*) FROM media_files WHERE download_status = 'downloading'`).Scan(&downloading)
		qcancel()
		ev.do()
		restarts = append(restarts, ev.name)
		t.Logf("%s at %d answers, %d downloads in flight (%s)", ev.name, acc.answered.Load(), downloading, time.Since(start).Round(time.Millisecond))
	}
	chaosEnded := time.Now()
	if !postDone {
		res = <-posted
	}
	require.NoError(t, res.err)
	acc.mu.Lock()
	posts, byStatus, transport := acc.answered.Load(), fmt.Sprint(acc.byStatus), acc.transport
	acc.mu.Unlock()
	t.Logf("posting done after %d rounds: %d requests, by status %s, %d without answer, %d given up",
		res.rounds, posts, byStatus, transport, len(res.givenUp))

	// What the ingest accepted, and the media it carries.
	type msgKey struct{ instance, message string }
	accepted := map[[32]byte]wasim.Hook{}
	wantMedia := map[msgKey]*wasim.Item{}
	providerOf := map[msgKey]wasim.Provider{}
	for _, h := range hooks {
		if acc.isAccepted(h.Body) {
			accepted[sha256.Sum256(h.Body)] = h
			if h.Item != nil {
				wantMedia[msgKey{h.InstanceID, h.MessageID}] = h.Item
				providerOf[msgKey{h.InstanceID, h.MessageID}] = h.Provider
			}
		}
	}
	distinct := map[[32]byte]bool{}
	for _, h := range hooks {
		distinct[sha256.Sum256(h.Body)] = true
	}
	givenUp := map[msgKey]bool{}
	for _, h := range res.givenUp {
		givenUp[msgKey{h.InstanceID, h.MessageID}] = true
	}

	// Settled: every accepted media item in a final status and no download
	// job left in flight. A job whose downloader was killed comes back after
	// the consumer's AckWait (60 s), so this takes a minute or two.
	type row struct {
		status, reason, path string
		size                 int64
		sha                  []byte
		cliente              int64
		attempts             int
		n                    int
	}
	var rows map[msgKey]*row
	settleDeadline := time.Now().Add(4 * time.Minute)
	for {
		rows = map[msgKey]*row{}
		err := func() error {
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			rs, err := pgtest.Pool(t, c.pg.URL).Query(qctx, `SELECT instance_id, message_id, download_status, coalesce(failure_reason, ''),
				coalesce(file_path, ''), coalesce(file_size, 0), file_sha256, cliente_id, attempts FROM media_files`)
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				var k msgKey
				r := &row{}
				if err := rs.Scan(&k.instance, &k.message, &r.status, &r.reason, &r.path, &r.size, &r.sha, &r.cliente, &r.attempts); err != nil {
					return err
				}
				if old := rows[k]; old != nil {
					old.n++
					continue
				}
				r.n = 1
				rows[k] = r
			}
			return rs.Err()
		}()
		require.NoError(t, err)
		final := 0
		for k := range wantMedia {
			if r := rows[k]; r != nil && (r.status == "success" || r.status == "failed" || r.status == "expired") {
				final++
			}
		}
		inFlight := consumerBacklog(t, js, bus.StreamDownloads, bus.ConsumerDownloader) +
			consumerBacklog(t, js, bus.StreamWebhooks, bus.ConsumerAnalyzer)
		if final == len(wantMedia) && inFlight == 0 {
			break
		}
		if time.Now().After(settleDeadline) {
			t.Logf("not settled: %d of %d media final, %d messages in flight", final, len(wantMedia), inFlight)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	settled := time.Now()

	// The invariants.
	var lost, duplicated, unexpected, wrongStatus, badFiles, retried int
	counts := map[string]int{}
	for k, it := range wantMedia {
		r := rows[k]
		if r == nil || (r.status != "success" && r.status != "failed" && r.status != "expired") {
			lost++
			if lost <= 5 {
				t.Errorf("accepted media %s/%s (%s) not stored: %+v", k.instance, k.message, it.Sample.Name, r)
			}
			continue
		}
		counts[r.status]++
		counts["provider "+cmp.Or(string(providerOf[k]), "wapi")]++
		if r.attempts > 1 {
			retried++
		}
		if r.n > 1 {
			duplicated += r.n - 1
			t.Errorf("media %s/%s has %d rows", k.instance, k.message, r.n)
		}
		want := wantStatus[it]
		plainFile := providerOf[k] == wasim.ProviderWAHA || providerOf[k] == wasim.ProviderZAPI || providerOf[k] == wasim.ProviderMeta
		if want == "success" && plainFile && hasFault(it, wasim.FaultExpired) {
			// The provider's own copy is gone: no fallback can bring it
			// back (Evolution's can: it has the phone upload it again).
			// Meta's webhook gives the file's sha256, so the same content
			// already stored for the cliente (through another provider's
			// instance) is found without a download: success then.
			want = "expired"
			if providerOf[k] == wasim.ProviderMeta && r.status == "success" {
				want = "success"
			}
		}
		if r.status != want {
			wrongStatus++
			t.Errorf("media %s/%s (%s): status %s (%s), want %s", k.instance, k.message, it.Sample.Name, r.status, r.reason, want)
			continue
		}
		if r.status == "failed" {
			require.Equal(t, "type_mismatch", r.reason, it.Sample.Name)
			continue
		}
		if r.status == "expired" {
			continue
		}
		if (providerOf[k] == wasim.ProviderWAHA || providerOf[k] == wasim.ProviderZAPI) && !bytes.Equal(r.sha, it.FileSHA256) && hasFault(it, wasim.FaultCorrupt) {
			// WAHA and Z-API give no hash: a body corrupted on the way that
			// still looks like its type is stored as it came (integrity
			// content_only says so). Not a pipeline fault.
			counts["content_only corrupted in transit"]++
			continue
		}
		if !bytes.Equal(r.sha, it.FileSHA256) || r.size != it.FileLength || !strings.HasPrefix(r.path, strconv.FormatInt(r.cliente, 10)+"/") {
			badFiles++
			t.Errorf("media %s/%s: row says sha %x size %d path %s, the item is %x %d", k.instance, k.message, r.sha, r.size, r.path, it.FileSHA256, it.FileLength)
		}
	}
	for k, r := range rows {
		if wantMedia[k] == nil && !givenUp[k] {
			unexpected++
			t.Errorf("a row for media that was never accepted: %s/%s %+v", k.instance, k.message, r)
		}
	}

	// The files: each success path exists once and hashes to its row; no
	// other file, no temporary file.
	paths := map[string][]byte{}
	for _, r := range rows {
		if r.status == "success" {
			paths[r.path] = r.sha
		}
	}
	var temps, orphans, verified int
	good := map[string]bool{} // files whose content matches their rows' sha256
	check := func(rel string, sum func() ([]byte, error)) error {
		want, ok := paths[rel]
		if !ok {
			orphans++
			t.Errorf("a stored file no row points to: %s", rel)
			return nil
		}
		got, err := sum()
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			badFiles++
			t.Errorf("%s does not match its sha256", rel)
		} else {
			good[rel] = true
		}
		delete(paths, rel)
		return nil
	}
	var err error
	if onS3 {
		left, lerr := c.blobs.Leftovers()
		require.NoError(t, lerr)
		for _, k := range left {
			temps++
			t.Errorf("left in the bucket: %s", k)
		}
		err = eachObject(ctx, c.s3.Client(), c.s3.Bucket, "chaos/", func(rel string) error {
			if strings.HasPrefix(rel, ".pending/") {
				return nil // counted by Leftovers
			}
			if strings.HasPrefix(rel, ".probe-") {
				temps++
				t.Errorf("a readiness probe object left: %s", rel)
				return nil
			}
			return check(rel, func() ([]byte, error) { return objectSHA256(ctx, c.s3.Client(), c.s3.Bucket, "chaos/"+rel) })
		})
	} else {
		err = filepath.WalkDir(c.media, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(c.media, p)
			rel = filepath.ToSlash(rel)
			if strings.Contains(rel, "/.tmp/") || strings.HasSuffix(rel, ".part") {
				temps++
				t.Errorf("temporary file left: %s", rel)
				return nil
			}
			return check(rel, func() ([]byte, error) { return fileSHA256(p) })
		})
	}
	require.NoError(t, err)
	for rel := range paths {
		badFiles++
		t.Errorf("a success row points to a missing file: %s", rel)
	}
	for k := range wantMedia {
		if r := rows[k]; r != nil && r.status == "success" && good[r.path] {
			verified++
		}
	}

	// The stream: every accepted webhook once.
	ids := streamMsgIDs(t, js, bus.StreamWebhooks)
	var streamMissing, streamDup int
	for _, h := range accepted {
		head, err := provider.Peek(wh.Provider(cmp.Or(h.Provider, wasim.ProviderWAPI)), h.Body)
		require.NoError(t, err)
		switch ids[ingest.ProviderMsgID(head)] {
		case 0:
			streamMissing++
		case 1:
		default:
			streamDup++
		}
	}
	lost += streamMissing
	duplicated += streamDup + orphans

	// No secret in any process's log.
	var leaks int
	for _, r := range c.roles {
		logText := r.log.String()
		for inst, s := range secrets {
			for _, v := range []string{s, wapiTokens[inst], wapiTokens[inst+" app secret"]} {
				if v != "" && strings.Contains(logText, v) {
					leaks++
					t.Errorf("a secret of %s appears in the log of %s", inst, r.name)
				}
			}
		}
	}

	// Processes that died by themselves.
	for _, r := range c.roles {
		require.True(t, r.p.Running(), "%s exited by itself: %v", r.name, r.p.Err())
	}

	st := c.sim.Stats()
	name := "chaos"
	if onS3 {
		name = fmt.Sprintf("chaos (S3: %d requests through the proxy, %d answered 500, %d delayed)",
			c.s3proxy.requests.Load(), c.s3proxy.failed.Load(), c.s3proxy.delayed.Load())
	}
	figures := fmt.Sprintf("%s: webhooks=%d (distinct %d) accepted=%d (posts=%d %s, rounds=%d, given up=%d) media=%d processed=%d "+
		"(success=%d failed=%d expired=%d, verified=%d, content_only corrupted in transit=%d, by provider %v, files=%d, downloaded more than once=%d, cdn=%d faults=%v fallback=%d) "+
		"lost=%d duplicated=%d unexpected=%d wrong=%d bad_files=%d temp_files=%d "+
		"secret_leaks=%d restarts_survived=%d [%s] posting+chaos=%s settle=%s total=%s",
		name, len(hooks), len(distinct), len(accepted), posts, byStatus, res.rounds, len(res.givenUp), len(wantMedia),
		counts["success"]+counts["failed"]+counts["expired"], counts["success"], counts["failed"], counts["expired"], verified, counts["content_only corrupted in transit"], providerCounts(counts), len(good), retried, st.CDNRequests, st.Faults, st.DownloadMedia,
		lost, duplicated, unexpected, wrongStatus, badFiles, temps, leaks, len(restarts), strings.Join(restarts, ", "),
		chaosEnded.Sub(began).Round(time.Second), settled.Sub(chaosEnded).Round(time.Second), time.Since(began).Round(time.Second))
	fmt.Println(figures)
	t.Log(figures)
	if f := os.Getenv("MEDIAPIPE_CHAOS_FIGURES"); f != "" {
		if err := appendLine(f, time.Now().UTC().Format(time.RFC3339)+" "+figures); err != nil {
			t.Logf("writing %s: %v", f, err)
		}
	}
	require.Zero(t, len(res.givenUp), "every webhook accepted in the end")
	require.Zero(t, lost, "lost")
	require.Zero(t, duplicated, "duplicated")
	require.Zero(t, unexpected+wrongStatus+badFiles+temps+leaks)
	// (A content_only file corrupted in transit is stored as it came, and
	// matches its row: counted among the verified.)
	require.Equal(t, len(wantMedia), verified+counts["failed"]+counts["expired"],
		"every media item verified, rightly failed, or gone from its provider")
	for _, p := range wasim.Providers {
		require.Positive(t, counts["provider "+string(p)], "media of provider %s", p)
	}
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, line)
	return err
}

// connectJS connects the test itself to NATS (reconnecting across restarts).
func connectJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js, err := bus.Connect(ctx, url, "chaos-test", nil)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return js
}

// consumerBacklog returns the messages a consumer has not finished: not yet
// delivered plus delivered and not acknowledged. It returns 1 while NATS
// cannot answer.
func consumerBacklog(t *testing.T, js jetstream.JetStream, stream, consumer string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return 1
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 1
	}
	return int(info.NumPending) + info.NumAckPending
}

// streamMsgIDs counts the stored messages of a stream by Nats-Msg-Id.
func streamMsgIDs(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	ids := map[string]int{}
	for got := uint64(0); got < info.State.Msgs; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			ids[m.Headers().Get(jetstream.MsgIDHeader)]++
			n++
		}
		require.NoError(t, batch.Error())
		require.Positive(t, n, "the stream said %d messages, read %d", info.State.Msgs, got)
		got += uint64(n)
	}
	return ids
}
