package downloader_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/downloader"
	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// proxy forwards TCP connections to target until it is cut: then its
// address refuses connections (nothing listens) and every connection in
// flight is reset, as a CDN behind a network failure looks.
type proxy struct {
	t      testing.TB
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) URL() string { return "http://" + p.addr }

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut stops listening (connection refused) and resets every connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// restore listens on the same address again.
func (p *proxy) restore() {
	var ln net.Listener
	require.Eventually(p.t, func() bool {
		var err error
		ln, err = net.Listen("tcp", p.addr)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "listening on %s again", p.addr)
	p.serve(ln)
}

// requireNoneFailed fails the test when any of the rows is failed or expired.
func (p *pipeline) requireNoneFailed(msgIDs []string) map[string]row {
	p.t.Helper()
	rows := p.rows(msgIDs)
	for id, r := range rows {
		require.Contains(p.t, []string{"pending", "downloading", "success"}, r.Status, "message %s: %+v", id, r)
	}
	return rows
}

// behindProxy is setup with the CDN reached through a proxy the test can
// cut.
func behindProxy(t *testing.T, o pipelineOptions) (*pipeline, *proxy) {
	t.Helper()
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	cdn := newProxy(t, strings.TrimPrefix(sim.CDNBaseURL(), "http://"))
	o.cdnBase = cdn.URL()
	return setupWithSim(t, sim, o), cdn
}

// lockStore makes every directory under root refuse new entries, renames
// and removals, also for root (which ignores permissions): `chattr +i`
// where the filesystem supports it, else a read-only bind mount of root.
// unlock undoes it.
func lockStore(t *testing.T, root string) (unlock func()) {
	t.Helper()
	var dirs []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return err
	}))
	if _, err := exec.LookPath("chattr"); err == nil {
		if out, err := exec.Command("chattr", append([]string{"+i"}, dirs...)...).CombinedOutput(); err == nil {
			undo := func() {
				out, err := exec.Command("chattr", append([]string{"-i"}, dirs...)...).CombinedOutput()
				require.NoError(t, err, "%s", out)
			}
			t.Cleanup(func() { _ = exec.Command("chattr", append([]string{"-i"}, dirs...)...).Run() })
			return undo
		} else {
			t.Logf("chattr +i refused (%s): trying a read-only bind mount", strings.TrimSpace(string(out)))
		}
	}
	if err := syscall.Mount(root, root, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot make %s read-only for root here (no chattr, bind mount: %v)", root, err)
	}
	unmount := func() { _ = syscall.Unmount(root, syscall.MNT_DETACH) }
	t.Cleanup(unmount)
	// A remount read-only fails while files are open for writing.
	require.Eventually(t, func() bool {
		return syscall.Mount("", root, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, "") == nil
	}, 10*time.Second, time.Millisecond)
	return unmount
}

// TestStoreReadOnlyMidRun makes MEDIA_DIR unwritable for 30 s (5 s with
// -short) in the middle of a run: no row is failed meanwhile, the store
// reports not ready (blob Probe and the downloader's StoreReady), no attempt
// is counted for the fault, and every media item is a success once the
// store takes writes again, without a restart.
func TestStoreReadOnlyMidRun(t *testing.T) {
	t.Parallel()
	hold := 30 * time.Second
	if testing.Short() {
		hold = 5 * time.Second
	}
	p := setup(t, pipelineOptions{own: func(d *downloader.Downloader) {
		d.StoreRetry = 400 * time.Millisecond
		d.BackoffBase, d.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	}})
	names := []string{samples.ImageJPEG, samples.DocumentPDF, samples.AudioVoice, samples.VideoMP4, samples.StickerWebP}
	var items []*wasim.Item
	for i := range 40 {
		items = append(items, addSample(t, p.sim, variant(names[i%len(names)], i)))
	}
	var ids []string
	for _, it := range items[:10] {
		ids = append(ids, p.send(it, nil))
	}
	p.waitFinal(30*time.Second, ids...)

	unlock := lockStore(t, p.cfg.MediaDir)
	local, err := blob.NewLocal(p.cfg.MediaDir)
	require.NoError(t, err)
	require.ErrorIs(t, local.Probe(), blob.ErrWrite, "the store is unwritable")
	locked := time.Now()
	for _, it := range items[10:] {
		ids = append(ids, p.send(it, nil))
	}
	require.Eventually(t, func() bool { return p.dl.StoreReady() != nil }, 10*time.Second, 20*time.Millisecond,
		"the downloader reports its store not ready")
	waited := 0
	for time.Since(locked) < hold {
		rows := p.requireNoneFailed(ids)
		waited = 0
		for _, r := range rows {
			if r.Status != "success" {
				waited++
			}
		}
		require.Error(t, p.dl.StoreReady(), "not ready while the store is unwritable")
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, 30, waited, "every item posted meanwhile waits")
	unlock()

	rows := p.waitFinal(60*time.Second, ids...)
	require.NoError(t, p.dl.StoreReady(), "ready again, without a restart")
	for i, it := range items {
		r := rows[ids[i]]
		p.requireStored(r, it)
		require.Equal(t, 1, r.Attempts, "the store fault cost no attempt")
	}
	require.Positive(t, counterValue(t, p.metrics.Failures.WithLabelValues("downloader", "internal")),
		"the waits are counted as internal, never http_error")
	require.Zero(t, counterValue(t, p.metrics.Failures.WithLabelValues("downloader", "http_error")))
	require.NotZero(t, p.logs.FilterMessageSnippet("media store unwritable").Len())
	require.NotZero(t, p.logs.FilterMessageSnippet("media store writable again").Len())
	for _, f := range p.files() {
		require.False(t, strings.HasSuffix(f, ".part"), "no temporary file is left: %s", f)
		require.False(t, strings.Contains(f, ".probe-"), "no probe file is left: %s", f)
	}
}

// TestCDNOutageOutlivesRetryBudget cuts the CDN off (connection refused,
// connections reset) for many backoff periods in the middle of a run, with
// the W-API fallback failing too: no row is failed, the rows show they are
// retrying, the fallback was tried, and every item is a success once the
// CDN is back. The old budget (8 deliveries in about a minute) would have
// failed them all.
func TestCDNOutageOutlivesRetryBudget(t *testing.T) {
	t.Parallel()
	const backoffMax = 250 * time.Millisecond
	p, cdn := behindProxy(t, pipelineOptions{
		fetch: func(o *fetch.Options) {
			o.BreakerThreshold, o.BreakerCooldown = 3, 300*time.Millisecond
			o.ConnectTimeout = time.Second
		},
		own: func(d *downloader.Downloader) {
			d.BackoffBase, d.BackoffMax = 20*time.Millisecond, backoffMax
			d.RetryHorizon = 5 * time.Minute
		}})
	names := []string{samples.ImageJPEG, samples.DocumentPDF, samples.AudioVoice, samples.VideoMP4, samples.StickerWebP}
	var items []*wasim.Item
	for i := range 30 {
		it := addSample(t, p.sim, variant(names[i%len(names)], i), wasim.WithWAPIMode(wasim.WAPIFailure))
		items = append(items, it)
	}
	var ids []string
	for _, it := range items[:10] {
		ids = append(ids, p.send(it, nil))
	}
	p.waitFinal(30*time.Second, ids...)

	cdn.cut()
	down := time.Now()
	outage := 40 * backoffMax
	for _, it := range items[10:] {
		ids = append(ids, p.send(it, nil))
	}
	sawRetrying := false
	for time.Since(down) < outage {
		for _, r := range p.requireNoneFailed(ids) {
			sawRetrying = sawRetrying || (r.Status == "pending" && r.Retrying && r.Attempts > 0 &&
				(r.LastReason == "http_error" || r.LastReason == "timeout"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.True(t, sawRetrying, "the rows show attempts, next_attempt_at and last_reason while retrying")
	cdn.restore()

	rows := p.waitFinal(60*time.Second, ids...)
	fallbacks := int64(0)
	for i, it := range items {
		p.requireStored(rows[ids[i]], it)
		fallbacks += it.WAPICalls()
	}
	require.Positive(t, fallbacks, "the W-API fallback was tried while the CDN stayed unreachable")
	require.NotZero(t, p.logs.FilterMessageSnippet("circuit open").Len(), "the breaker opened")
}

// TestCDNOutageFallback: while the CDN stays unreachable (its circuit open
// for longer than FallbackWait), the W-API fallback fetches the media; the
// CDN is not hammered meanwhile (its circuit stays open for a minute).
func TestCDNOutageFallback(t *testing.T) {
	t.Parallel()
	p, cdn := behindProxy(t, pipelineOptions{
		fetch: func(o *fetch.Options) { o.BreakerThreshold, o.BreakerCooldown = 2, time.Minute },
		own: func(d *downloader.Downloader) {
			d.BackoffBase, d.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
			d.FallbackWait = 500 * time.Millisecond
		}})
	cdn.cut()
	var items []*wasim.Item
	var ids []string
	for i := range 6 {
		it := addSample(t, p.sim, variant(samples.ImageJPEG, i))
		items = append(items, it)
		ids = append(ids, p.send(it, nil))
	}
	rows := p.waitFinal(30*time.Second, ids...)
	for i, it := range items {
		p.requireStored(rows[ids[i]], it)
		require.EqualValues(t, 1, it.WAPICalls(), "fetched through W-API")
	}
}

// TestRetryHorizonEnds: a CDN down for good fails the item once its retry
// horizon passed (not before), with a transfer reason; an item whose CDN
// expiry (oe) comes first stops there.
func TestRetryHorizonEnds(t *testing.T) {
	t.Parallel()
	const horizon = 2 * time.Second
	p, cdn := behindProxy(t, pipelineOptions{
		fetch: func(o *fetch.Options) { o.BreakerThreshold, o.BreakerCooldown = 1000, time.Second },
		own: func(d *downloader.Downloader) {
			d.BackoffBase, d.BackoffMax, d.RetryHorizon = 20*time.Millisecond, 200*time.Millisecond, horizon
		}})
	cdn.cut()
	it := addSample(t, p.sim, variant(samples.ImageJPEG, 0), wasim.WithWAPIMode(wasim.WAPIFailure))
	start := time.Now()
	r := p.waitOne(p.send(it, nil))
	require.GreaterOrEqual(t, time.Since(start), horizon)
	require.Equal(t, "failed", r.Status)
	require.Equal(t, "http_error", r.Reason)
	require.Greater(t, r.Attempts, 3)

	soon := addSample(t, p.sim, variant(samples.ImagePNG, 0), wasim.WithWAPIMode(wasim.WAPIFailure))
	start = time.Now()
	r = p.waitOne(p.send(soon, func(m map[string]any) {
		// The CDN is cut off: only the downloader reads the expiry.
		dp := m["directPath"].(string)
		i := strings.Index(dp, "oe=")
		require.Positive(t, i)
		j := strings.IndexByte(dp[i:], '&')
		m["directPath"] = dp[:i] + "oe=" + strconv.FormatInt(time.Now().Add(time.Second).Unix(), 16) + dp[i+j:]
	}))
	require.Less(t, time.Since(start), horizon, "the CDN expiry came first")
	require.Equal(t, "failed", r.Status)
}

// TestOneReasonEverywhere injects failures and checks that the row, the
// dead-letter record, the metric label and the log line name the same
// reason: a blob corrupt on every try (enc_hash_mismatch after
// MaxVerifyFailures attempts), a blob corrupt twice and then answering 500
// until the horizon (the informative enc_hash_mismatch is kept over the
// later http_error), a CDN answering 400 (http_error at once) and a
// stalled body until the horizon (timeout).
func TestOneReasonEverywhere(t *testing.T) {
	t.Parallel()
	p := setup(t, pipelineOptions{
		fetch: func(o *fetch.Options) { o.IdleTimeout = 200 * time.Millisecond; o.BreakerThreshold = 1000 },
		own: func(d *downloader.Downloader) {
			d.BackoffBase, d.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
			d.MaxVerifyFailures, d.RetryHorizon = 5, 3*time.Second
		}})
	cases := []struct {
		name   string
		faults []wasim.Fault
		reason string
		last   string // the reason of the last attempt, when it differs
	}{
		{name: "corrupt every time", faults: []wasim.Fault{{Kind: wasim.FaultCorrupt}}, reason: "enc_hash_mismatch"},
		{name: "corrupt twice, then 500 until the horizon", faults: []wasim.Fault{{Kind: wasim.FaultCorrupt}},
			reason: "enc_hash_mismatch", last: "http_error"},
		{name: "400", faults: []wasim.Fault{{Kind: wasim.FaultError, Status: 400}}, reason: "http_error"},
		{name: "stalled body until the horizon", faults: []wasim.Fault{{Kind: wasim.FaultStall, After: 100}}, reason: "timeout"},
	}
	ids := make([]string, len(cases))
	items := make([]*wasim.Item, len(cases))
	for i, c := range cases {
		// The W-API fallback fails too: the CDN's answers decide.
		items[i] = addSample(t, p.sim, variant(samples.ImageJPEG, i), wasim.WithFaults(c.faults...), wasim.WithWAPIMode(wasim.WAPIFailure))
		ids[i] = p.send(items[i], nil)
	}
	// The second item: after two corrupt blobs, the CDN answers 500.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pgtest.DB(t, p.store).QueryRow(context.Background(),
			`SELECT coalesce(max(verify_failures), 0) FROM media_files WHERE message_id = $1`, ids[1]).Scan(&n))
		return n >= 2
	}, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, items[1].SetFaults(wasim.Fault{Kind: wasim.FaultError, Status: 500}))
	rows := p.waitFinal(60*time.Second, ids...)
	var dls []bus.DeadLetter
	require.Eventually(t, func() bool {
		var err error
		dls, err = bus.ListDeadLetters(context.Background(), p.js, bus.DeadLetterFilter{Limit: 100})
		require.NoError(t, err)
		return len(dls) >= len(cases)
	}, 10*time.Second, 20*time.Millisecond, "dead letters %+v; logs %s", dls, p.dumpLogs(zapcore.WarnLevel))
	for i, c := range cases {
		r := rows[ids[i]]
		require.Equal(t, "failed", r.Status, c.name)
		require.Equal(t, c.reason, r.Reason, "%s: the row", c.name)

		var dl *bus.DeadLetter
		for k := range dls {
			if id, _ := dls[k].About["media_id"].(float64); int64(id) == r.ID {
				dl = &dls[k]
			}
		}
		require.NotNil(t, dl, "%s: a dead-letter record names the media", c.name)
		require.Equal(t, c.reason, dl.Reason, "%s: the dead-letter record", c.name)
		require.Equal(t, ids[i], dl.About["message_id"], c.name)
		require.Equal(t, wasim.InstancePro, dl.About["instance_id"], c.name)
		require.EqualValues(t, p.cliente, dl.About["cliente_id"], c.name)

		require.Positive(t, counterValue(t, p.metrics.Failures.WithLabelValues("downloader", c.reason)), "%s: the metric", c.name)

		var line *observerEntry
		for _, e := range p.logs.All() {
			f := e.ContextMap()
			if id, _ := f["media_id"].(int64); id == r.ID && e.Level >= zapcore.WarnLevel && strings.Contains(e.Message, "download failed") {
				line = &observerEntry{msg: e.Message, fields: f}
			}
		}
		require.NotNil(t, line, "%s: a log line", c.name)
		require.Equal(t, c.reason, line.fields["reason"], "%s: the log line %q", c.name, line.msg)
		require.Equal(t, ids[i], line.fields["message_id"], c.name)
		require.Equal(t, p.cliente, line.fields["cliente_id"], c.name)
		require.Equal(t, wasim.InstancePro, line.fields["instance_id"], c.name)
		if c.last != "" {
			require.Equal(t, c.last, line.fields["last_reason"], c.name)
			require.Positive(t, counterValue(t, p.metrics.Failures.WithLabelValues("downloader", c.last)), c.name)
		}
	}
	require.Zero(t, counterValue(t, p.metrics.Failures.WithLabelValues("downloader", "internal")), "nothing of ours failed")
}

type observerEntry struct {
	msg    string
	fields map[string]any
}

// TestClassify maps the errors the downloader meets onto reasons and retry
// classes: wamedia sentinels and fetch kinds onto internal/reason, and
// anything unclassified onto internal, never http_error.
func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		reason string
		class  string
	}{
		{&fetch.Error{Kind: fetch.ErrNetwork}, "http_error", "outage"},
		{&fetch.Error{Kind: fetch.ErrServer, Status: 503}, "http_error", "outage"},
		{&fetch.Error{Kind: fetch.ErrRateLimited, Status: 429}, "http_error", "outage"},
		{&fetch.Error{Kind: fetch.ErrTimeout}, "timeout", "outage"},
		{&fetch.Error{Kind: fetch.ErrTruncated}, "truncated", "verify"},
		{&fetch.Error{Kind: fetch.ErrStatus, Status: 400}, "http_error", "final"},
		{&fetch.Error{Kind: fetch.ErrTooLarge}, "too_large", "final"},
		{errors.New("disk on fire"), "internal", "ours"},
		{context.DeadlineExceeded, "timeout", "outage"},
	}
	for _, c := range cases {
		r, class := downloader.Classify(c.err)
		require.Equal(t, c.reason, r, "%v", c.err)
		require.Equal(t, c.class, class, "%v", c.err)
	}
}

func TestCDNExpiry(t *testing.T) {
	t.Parallel()
	oe := time.Unix(0x6A1B2C3D, 0)
	cases := []struct {
		directPath, url string
		want            time.Time
		ok              bool
	}{
		{"/v/t62.7118-24/x.enc?ccb=11-4&oh=01_Q&oe=6A1B2C3D&_nc_sid=5e03e0", "", oe, true},
		{"/v/t62.7118-24/x.enc?ccb=11-4&oe=6a1b2c3d", "", oe, true},
		{"", "https://mmg.whatsapp.net/v/x.enc?oe=" + strconv.FormatInt(oe.Unix(), 16) + "&mms3=true", oe, true},
		{"/v/t62.7118-24/x.enc", "", time.Time{}, false},
		{"/v/x.enc?oe=zz", "", time.Time{}, false},
		{"/v/x.enc?oe=1", "", time.Time{}, false},
	}
	for _, c := range cases {
		got, ok := downloader.ExpiryOf(c.directPath, c.url)
		require.Equal(t, c.ok, ok, c.directPath+c.url)
		require.True(t, c.want.Equal(got), "%s: %s", c.directPath+c.url, got)
	}
}

// counterValue reads a counter's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// dumpLogs renders the observed lines at level or above, for failures.
func (p *pipeline) dumpLogs(level zapcore.Level) string {
	var b strings.Builder
	for _, e := range p.logs.All() {
		if e.Level >= level {
			fmt.Fprintf(&b, "\n%s %s %v", e.Level, e.Message, e.ContextMap())
		}
	}
	return b.String()
}
