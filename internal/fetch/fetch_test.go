package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// newFetcher builds a Fetcher whose CDN base is cdn, with quick timeouts.
func newFetcher(t *testing.T, cdn string, mod ...func(*Options)) *Fetcher {
	t.Helper()
	o := Options{
		CDNBase:        cdn,
		AllowedHosts:   []string{"mmg.whatsapp.net", "*.cdn.whatsapp.net"},
		MaxBytes:       1 << 20,
		ConnectTimeout: 2 * time.Second,
		HeaderTimeout:  5 * time.Second,
		IdleTimeout:    5 * time.Second,
		Logger:         zaptest.NewLogger(t),
	}
	for _, m := range mod {
		m(&o)
	}
	f, err := New(o)
	require.NoError(t, err)
	return f
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serve starts a test server on 127.0.0.1. Handlers that block also wait on
// a channel the test closes when it returns, before the server shuts down.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func requireKind(t *testing.T, err error, kind error, reason string, transient bool) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, kind)
	require.Equal(t, reason, Reason(err), "reason of %v", err)
	require.Equal(t, transient, Transient(err), "transient of %v", err)
}

func TestOpenKeepsDirectPathExactly(t *testing.T) {
	t.Parallel()
	type seen struct {
		uri, origin, referer, ua string
	}
	got := make(chan seen, 1)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.RequestURI, r.Header.Get("Origin"), r.Header.Get("Referer"), r.Header.Get("User-Agent")}
		_, _ = io.WriteString(w, "hello")
	}))
	f := newFetcher(t, srv.URL+"/", func(o *Options) { o.UserAgent = "test-agent" })

	for _, dp := range []string{
		"/v/t62.7118-24/31377688_1234567890_5678_n.enc?ccb=11-4&oh=01_Q5AaIPx%2Bq3T_vQ%3D%3D&oe=68A1B2C3&_nc_sid=5e03e0&mms3=true",
		"/o1/v/t62.7117-24/f2/m231/AQN-x_Yz.enc?ccb=9-4&oh=01_Q5Aa1wHx+plus/slash%3d&oe=6C0FFEE0&_nc_sid=e6ed6c&mms3=true",
		"/v/t62/a%2Fb%20c.enc?oh=x%3d%3D&oe=1&empty=&&flag",
	} {
		body, info, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: dp, URL: "https://mmg.whatsapp.net.evil/x"})
		require.NoError(t, err)
		b, err := io.ReadAll(body)
		require.NoError(t, err)
		require.NoError(t, body.Close())
		require.Equal(t, "hello", string(b))
		require.Equal(t, srv.URL+dp, info.URL)
		require.EqualValues(t, 5, info.ContentLength)

		s := <-got
		require.Equal(t, dp, s.uri, "the directPath must reach the CDN byte for byte")
		require.Equal(t, "https://web.whatsapp.com", s.origin)
		require.Equal(t, "https://web.whatsapp.com/", s.referer)
		require.Equal(t, "test-agent", s.ua)
	}
}

func TestOpenRefusesBadLocations(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	f := newFetcher(t, srv.URL, func(o *Options) {
		o.AllowedHosts = append(o.AllowedHosts, "web.whatsapp.net", "127.0.0.1", "::1", "10.1.2.3", "localhost")
	})
	for _, tc := range []struct {
		name string
		d    wamedia.Descriptor
		kind error
	}{
		{"nothing", wamedia.Descriptor{}, ErrNoLocation},
		{"directPath without slash", wamedia.Descriptor{DirectPath: "@evil.example/x"}, ErrNoLocation},
		{"host not allowed", wamedia.Descriptor{URL: "https://mmg.whatsapp.net.evil/v/t62/x.enc"}, ErrForbiddenHost},
		{"suffix lookalike", wamedia.Descriptor{URL: "https://evilcdn.whatsapp.net/v/t62/x.enc"}, ErrForbiddenHost},
		{"web.whatsapp.net without path", wamedia.Descriptor{URL: "https://web.whatsapp.net"}, ErrNoLocation},
		{"web.whatsapp.net root path", wamedia.Descriptor{URL: "https://web.whatsapp.net/"}, ErrNoLocation},
		{"http message url", wamedia.Descriptor{URL: "http://mmg.whatsapp.net/v/t62/x.enc"}, ErrForbiddenHost},
		{"http url on the CDN base", wamedia.Descriptor{URL: srv.URL + "/v/t62/x.enc"}, ErrForbiddenHost},
		{"IPv4 literal", wamedia.Descriptor{URL: "https://127.0.0.1/v/t62/x.enc"}, ErrForbiddenHost},
		{"private IPv4 literal", wamedia.Descriptor{URL: "https://10.1.2.3/v/t62/x.enc"}, ErrForbiddenHost},
		{"IPv6 literal", wamedia.Descriptor{URL: "https://[::1]/v/t62/x.enc"}, ErrForbiddenHost},
		{"odd port", wamedia.Descriptor{URL: "https://mmg.whatsapp.net:8443/v/t62/x.enc"}, ErrForbiddenHost},
		{"user info", wamedia.Descriptor{URL: "https://user@mmg.whatsapp.net/v/t62/x.enc"}, ErrForbiddenHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.Open(testCtx(t), &tc.d)
			reason := "http_error"
			if tc.kind == ErrNoLocation {
				reason = "missing_fields"
			}
			requireKind(t, err, tc.kind, reason, false)
		})
	}
	require.Zero(t, hits.Load())
}

func TestDialHookRefusesNamesResolvingToLoopback(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.NotFoundHandler())
	f := newFetcher(t, srv.URL, func(o *Options) { o.AllowedHosts = []string{"localhost"} })
	_, _, err := f.Open(testCtx(t), &wamedia.Descriptor{URL: "https://localhost/v/t62/x.enc"})
	requireKind(t, err, ErrForbiddenHost, "http_error", false)
	require.Contains(t, err.Error(), "non-public address")
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	var bHits atomic.Int32
	b := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bHits.Add(1)
		_, _ = io.WriteString(w, "from b")
	}))
	bPort := b.Listener.Addr().(*net.TCPAddr).Port
	var loops atomic.Int32
	mux := http.NewServeMux()
	redirect := func(path, to string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) })
	}
	redirect("/off", "https://evil.example/x")
	redirect("/ip", b.URL+"/x")
	redirect("/ips", fmt.Sprintf("https://127.0.0.1:%d/x", bPort))
	redirect("/local", "https://localhost/x")
	redirect("/same", "/ok")
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		loops.Add(1)
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	a := serve(t, mux)
	f := newFetcher(t, a.URL, func(o *Options) { o.AllowedHosts = []string{"mmg.whatsapp.net", "localhost"} })

	for _, p := range []string{"/off", "/ip", "/ips", "/local"} {
		_, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: p})
		requireKind(t, err, ErrForbiddenHost, "http_error", false)
	}
	require.Zero(t, bHits.Load(), "no redirect may reach another server")

	body, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/same"})
	require.NoError(t, err)
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	require.Equal(t, "ok", string(got))
	body.Close()

	_, _, err = f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/loop"})
	requireKind(t, err, ErrStatus, "http_error", false)
	require.EqualValues(t, 1+maxRedirects, loops.Load())
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if ra := r.URL.Query().Get("ra"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(code)
	}))
	f := newFetcher(t, srv.URL)
	for _, tc := range []struct {
		code      int
		kind      error
		reason    string
		transient bool
	}{
		{403, ErrExpired, "expired", false},
		{404, ErrExpired, "expired", false},
		{410, ErrExpired, "expired", false},
		{429, ErrRateLimited, "http_error", true},
		{500, ErrServer, "http_error", true},
		{502, ErrServer, "http_error", true},
		{503, ErrServer, "http_error", true},
		{408, ErrTimeout, "timeout", true},
		{400, ErrStatus, "http_error", false},
		{401, ErrStatus, "http_error", false},
		{204, nil, "", false},
	} {
		body, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: fmt.Sprintf("/%d", tc.code)})
		if tc.kind == nil {
			require.NoError(t, err)
			body.Close()
			continue
		}
		requireKind(t, err, tc.kind, tc.reason, tc.transient)
		var fe *Error
		require.ErrorAs(t, err, &fe)
		require.Equal(t, tc.code, fe.Status)
		_, ok := RetryAfter(err)
		require.False(t, ok)
	}

	_, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/429?ra=7"})
	d, ok := RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)

	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	_, _, err = f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/429?ra=" + strings.ReplaceAll(date, " ", "%20")})
	d, ok = RetryAfter(fmt.Errorf("wrapped: %w", err))
	require.True(t, ok)
	require.InDelta(t, 90, d.Seconds(), 2)

	_, _, err = f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/503?ra=3"})
	d, ok = RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 3*time.Second, d)

	_, _, err = f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/404?ra=3"})
	_, ok = RetryAfter(err)
	require.False(t, ok, "Retry-After only matters on transient answers")
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 120 ", 2 * time.Minute, true},
		{"Sun, 01 Jun 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Jun-25 12:01:00 GMT", time.Minute, true},
		{"Sun, 01 Jun 2025 11:00:00 GMT", 0, true},
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
		{"99999999999", 0, false},
	} {
		d, ok := parseRetryAfter(tc.in, now)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.want, d, tc.in)
	}
	require.Equal(t, "", Reason(errors.New("other")))
	require.False(t, Transient(errors.New("other")))
}

func TestResetMidBodyIsTransient(t *testing.T) {
	t.Parallel()
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
		_, _ = buf.Write(make([]byte, 1000))
		_ = buf.Flush()
		_ = conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	f := newFetcher(t, srv.URL)
	body, info, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/blob"})
	require.NoError(t, err)
	defer body.Close()
	require.EqualValues(t, 100000, info.ContentLength)
	n, err := io.Copy(io.Discard, body)
	require.Error(t, err)
	require.LessOrEqual(t, n, int64(1000))
	require.True(t, Transient(err), "%v", err)
	require.Contains(t, []string{"http_error", "truncated"}, Reason(err))
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write(make([]byte, 100))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	f := newFetcher(t, srv.URL, func(o *Options) { o.IdleTimeout = 150 * time.Millisecond })
	start := time.Now()
	body, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/stall"})
	require.NoError(t, err)
	defer body.Close()
	n, err := io.Copy(io.Discard, body)
	requireKind(t, err, ErrTimeout, "timeout", true)
	require.Contains(t, err.Error(), "no progress")
	require.EqualValues(t, 100, n)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestHeaderTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	f := newFetcher(t, srv.URL, func(o *Options) { o.HeaderTimeout = 150 * time.Millisecond })
	_, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/slow"})
	requireKind(t, err, ErrTimeout, "timeout", true)
	require.Contains(t, err.Error(), "no response headers")
}

func TestOverallDeadlineFollowsSize(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for range 100 {
			if _, err := w.Write([]byte{'x'}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-release:
				return
			}
		}
	}))
	// 100 bytes at 1000 B/s plus 200ms: a 300ms budget for a 2s trickle.
	f := newFetcher(t, srv.URL, func(o *Options) {
		o.BaseDeadline = 200 * time.Millisecond
		o.MinRate = 1000
		o.IdleTimeout = time.Second
	})
	start := time.Now()
	body, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/trickle"})
	require.NoError(t, err)
	defer body.Close()
	_, err = io.Copy(io.Discard, body)
	requireKind(t, err, ErrTimeout, "timeout", true)
	require.Contains(t, err.Error(), "overall")
	require.Less(t, time.Since(start), 1500*time.Millisecond)
}

func TestCallerCancelIsTransient(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	f := newFetcher(t, srv.URL)
	ctx, cancel := context.WithCancel(testCtx(t))
	body, _, err := f.Open(ctx, &wamedia.Descriptor{DirectPath: "/x"})
	require.NoError(t, err)
	defer body.Close()
	<-started
	cancel()
	_, err = io.Copy(io.Discard, body)
	requireKind(t, err, ErrTimeout, "timeout", true)
	require.ErrorIs(t, err, context.Canceled)
}

// bigServer streams total bytes, with or without a Content-Length, and
// reports how many it managed to write.
func bigServer(t *testing.T, total int64, withLength bool) (*httptest.Server, <-chan int64) {
	written := make(chan int64, 1)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if withLength {
			w.Header().Set("Content-Length", strconv.FormatInt(total, 10))
		}
		chunk := make([]byte, 32<<10)
		var n int64
		defer func() { written <- n }()
		for n < total {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	return srv, written
}

func waitWritten(t *testing.T, written <-chan int64) int64 {
	t.Helper()
	select {
	case n := <-written:
		return n
	case <-time.After(20 * time.Second):
		t.Fatal("server kept writing")
		return 0
	}
}

func TestTooLargeByContentLength(t *testing.T) {
	t.Parallel()
	srv, written := bigServer(t, 64<<20, true)
	f := newFetcher(t, srv.URL)
	_, info, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/big"})
	requireKind(t, err, ErrTooLarge, "too_large", false)
	require.EqualValues(t, 64<<20, info.ContentLength)
	require.Less(t, waitWritten(t, written), int64(16<<20), "the download must stop at the headers")
}

func TestTooLargeWhileStreaming(t *testing.T) {
	t.Parallel()
	srv, written := bigServer(t, 64<<20, false)
	f := newFetcher(t, srv.URL)
	body, info, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/big"})
	require.NoError(t, err)
	require.EqualValues(t, -1, info.ContentLength)
	n, err := io.Copy(io.Discard, body)
	requireKind(t, err, ErrTooLarge, "too_large", false)
	require.EqualValues(t, 1<<20, n, "exactly the cap is handed out, never more")
	_, err = body.Read(make([]byte, 10))
	require.ErrorIs(t, err, ErrTooLarge, "the error sticks")
	require.NoError(t, body.Close())
	require.Less(t, waitWritten(t, written), int64(16<<20), "the download must stop early")
}

func TestExactlyTheCapIsFine(t *testing.T) {
	t.Parallel()
	srv, _ := bigServer(t, 1<<20, false)
	f := newFetcher(t, srv.URL)
	body, _, err := f.Open(testCtx(t), &wamedia.Descriptor{DirectPath: "/exact"})
	require.NoError(t, err)
	defer body.Close()
	n, err := io.Copy(io.Discard, body)
	require.NoError(t, err)
	require.EqualValues(t, 1<<20, n)
}

func TestMatchHost(t *testing.T) {
	t.Parallel()
	pats := normPatterns([]string{" MMG.whatsapp.net ", "*.cdn.whatsapp.net.", "", "*.", "*", "a.*.net", "*.*.net"})
	require.Equal(t, []string{"mmg.whatsapp.net", "*.cdn.whatsapp.net"}, pats)
	for host, want := range map[string]bool{
		"mmg.whatsapp.net":          true,
		"a.cdn.whatsapp.net":        true,
		"a.b.cdn.whatsapp.net":      true,
		"cdn.whatsapp.net":          false,
		"evilcdn.whatsapp.net":      false,
		"mmg.whatsapp.net.evil":     false,
		"a.cdn.whatsapp.net.evil":   false,
		"xmmg.whatsapp.net":         false,
		"mmg.whatsapp.net.cdn.evil": false,
	} {
		require.Equal(t, want, matchHost(host, pats), host)
	}
	require.Equal(t, "*.w-api.app", parentPattern("api.w-api.app:443"))
	require.Equal(t, "", parentPattern("w-api.app:443"))
	require.Equal(t, "", parentPattern("127.0.0.1:8080"))
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"157.240.0.53":          true,
		"2a03:2880:f200::1":     true,
		"127.0.0.1":             false,
		"10.0.0.1":              false,
		"172.16.5.4":            false,
		"192.168.1.1":           false,
		"169.254.169.254":       false,
		"100.64.0.1":            false,
		"0.0.0.0":               false,
		"224.0.0.1":             false,
		"255.255.255.255":       false,
		"::1":                   false,
		"::":                    false,
		"fe80::1%eth0":          false,
		"fd00::1":               false,
		"ff02::1":               false,
		"::ffff:10.0.0.1":       false,
		"::ffff:157.240.0.53":   true,
		"64:ff9b::a00:1":        false,
		"64:ff9b::9df0:35":      true,
		"2002:a00:1::1":         false,
		"2002:9df0:35::1":       true,
		"2001:db8::1":           false,
		"100::1":                false,
		"fe80::1":               false,
		"198.18.0.1":            false,
		"203.0.113.9":           false,
		"192.0.2.1":             false,
		"198.51.100.7":          false,
		"192.0.0.8":             false,
		"240.0.0.1":             false,
		"2606:4700:4700::1111":  true,
		"::ffff:127.0.0.1":      false,
		"::ffff:192.168.10.200": false,
	} {
		require.Equal(t, want, publicAddr(netip.MustParseAddr(addr)), addr)
	}
}

func TestNewRejectsBadBases(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{CDNBase: ""},
		{CDNBase: "ftp://mmg.whatsapp.net"},
		{CDNBase: "https://mmg.whatsapp.net?x=1"},
		{CDNBase: "https://u:p@mmg.whatsapp.net"},
		{CDNBase: "https://mmg.whatsapp.net", WAPIBase: "api.w-api.app"},
	} {
		_, err := New(o)
		require.Error(t, err, "%+v", o)
	}
	_, err := New(Options{CDNBase: "https://mmg.whatsapp.net", WAPIBase: "https://api.w-api.app/"})
	require.NoError(t, err)
}
