// Package fetch opens media blobs for the downloader: from WhatsApp's CDN by
// directPath, and from W-API's download-media when the CDN says the media is
// gone. It is the one place that connects anywhere on behalf of webhook
// content, so it owns the SSRF defence (a host allowlist checked on every URL
// and redirect, a dial hook that refuses non-public addresses), every timeout,
// the size cap, and the classification of failures into the stable reasons
// of internal/reason (see Reason, Transient and RetryAfter).
//
// Bodies are streamed, never buffered: the caller verifies and decrypts while
// reading.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Options configures a Fetcher. Zero durations and sizes take the defaults
// noted on each field.
type Options struct {
	// CDNBase is WHATSAPP_CDN_BASE_URL; directPaths are appended to it. Its
	// exact host:port is allowed implicitly, over its own scheme or https,
	// even when it resolves to a private address.
	CDNBase string
	// WAPIBase is WAPI_BASE_URL, used by FallbackOpen; trusted like CDNBase.
	WAPIBase string
	// AllowedHosts is WHATSAPP_MEDIA_HOSTS: the hosts a message url or a CDN
	// redirect may point to, exact names or "*.suffix" (subdomains only).
	// Only https on port 443 and DNS names are accepted for them.
	AllowedHosts []string
	// FileLinkHosts are the hosts, besides WAPIBase's own host:port, that a
	// W-API fileLink may point to. Default: "*.<parent>" of WAPIBase's host
	// when it has three labels or more ("*.w-api.app" for api.w-api.app).
	FileLinkHosts []string

	// ZAPIHosts are the hosts Z-API's media URLs (imageUrl, audioUrl, ...)
	// may point to (ZAPI_MEDIA_HOSTS), https on port 443 only. Default
	// "*.z-api.io".
	ZAPIHosts []string
	// ZAPIStorageBase is an optional base URL whose host:port Z-API media
	// URLs may also use, trusted like CDNBase (the simulator's storage).
	ZAPIStorageBase string
	// MetaGraphBase is META_GRAPH_BASE_URL, trusted like CDNBase. Default
	// "https://graph.facebook.com".
	MetaGraphBase string
	// MetaGraphVersion is the Graph API version in its paths
	// (META_GRAPH_VERSION). Default "v23.0".
	MetaGraphVersion string
	// MetaMediaHosts are the hosts the Graph API's media URLs may point to,
	// besides MetaGraphBase's host:port. Default "*.fbsbx.com".
	MetaMediaHosts []string

	// MaxBytes caps one download (MAX_MEDIA_BYTES). Default 2 GiB.
	MaxBytes int64
	// MaxInlineBytes caps the JSON answer of download-media, which may carry
	// the file inline in base64 and is decoded in memory. Default 64 MiB.
	MaxInlineBytes int64

	ConnectTimeout time.Duration // TCP connect; default 10s
	TLSTimeout     time.Duration // TLS handshake; default 10s
	HeaderTimeout  time.Duration // request sent to response headers; default 30s
	IdleTimeout    time.Duration // no body progress; default 30s
	// BaseDeadline and MinRate give every download an overall deadline of
	// BaseDeadline + size/MinRate, from the start of the request; size is
	// the Content-Length, else the declared fileLength, else MaxBytes.
	// Defaults 60s and 64 KiB/s.
	BaseDeadline time.Duration
	MinRate      int64
	// FallbackTimeout bounds the download-media call (W-API takes 45 to 90 s
	// for audio); the fileLink download after it has the usual deadlines.
	// Default 120s.
	FallbackTimeout time.Duration

	// BreakerThreshold and BreakerCooldown tune the per-host circuit
	// breaker (see Breaker): consecutive transport failures that open a
	// host, and how long it stays open. Defaults 5 and 30s.
	BreakerThreshold int
	BreakerCooldown  time.Duration

	UserAgent string // default "mediapipe"
	Logger    *zap.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.TLSTimeout, 10*time.Second)
	def(&o.HeaderTimeout, 30*time.Second)
	def(&o.IdleTimeout, 30*time.Second)
	def(&o.BaseDeadline, 60*time.Second)
	def(&o.FallbackTimeout, 120*time.Second)
	if o.MaxBytes <= 0 {
		o.MaxBytes = 2 << 30
	}
	if o.MaxInlineBytes <= 0 {
		o.MaxInlineBytes = 64 << 20
	}
	if o.MinRate <= 0 {
		o.MinRate = 64 << 10
	}
	if o.UserAgent == "" {
		o.UserAgent = "mediapipe"
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.ZAPIHosts == nil {
		o.ZAPIHosts = []string{"*.z-api.io"}
	}
	if strings.TrimSpace(o.MetaGraphBase) == "" {
		o.MetaGraphBase = "https://graph.facebook.com"
	}
	if o.MetaGraphVersion == "" {
		o.MetaGraphVersion = "v23.0"
	}
	if o.MetaMediaHosts == nil {
		o.MetaMediaHosts = []string{"*.fbsbx.com"}
	}
}

// Fetcher opens media blobs. It is safe for concurrent use.
type Fetcher struct {
	opts     Options
	log      *zap.Logger
	client   *http.Client
	cdnBase  string // without trailing slash
	wapiBase string // without trailing slash; "" when not configured
	cdn      *policy
	wapi     *policy
	breaker  *Breaker

	zapi      *policy // Z-API media URLs
	metaBase  string  // without trailing slash
	metaGraph *policy // the Graph API itself
	metaMedia *policy // the URLs it answers with
	dial      *dialer
}

// New builds a Fetcher. It reports a malformed CDNBase or WAPIBase.
func New(opts Options) (*Fetcher, error) {
	opts.defaults()
	f := &Fetcher{opts: opts, log: opts.Logger,
		breaker: &Breaker{Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown}}
	cdnEP, cdnBase, err := parseBase("CDN base URL", opts.CDNBase)
	if err != nil {
		return nil, err
	}
	f.cdnBase = cdnBase
	f.cdn = &policy{name: "media host", base: cdnEP, hosts: normPatterns(opts.AllowedHosts)}
	var wapiEP endpoint
	if strings.TrimSpace(opts.WAPIBase) != "" {
		wapiEP, f.wapiBase, err = parseBase("W-API base URL", opts.WAPIBase)
		if err != nil {
			return nil, err
		}
		hosts := opts.FileLinkHosts
		if hosts == nil {
			if p := parentPattern(wapiEP.hostport); p != "" {
				hosts = []string{p}
			}
		}
		f.wapi = &policy{name: "W-API file host", base: wapiEP, hosts: normPatterns(hosts)}
	}
	var zapiEP endpoint
	if strings.TrimSpace(opts.ZAPIStorageBase) != "" {
		if zapiEP, _, err = parseBase("Z-API storage base URL", opts.ZAPIStorageBase); err != nil {
			return nil, err
		}
	}
	f.zapi = &policy{name: "Z-API storage host", base: zapiEP, hosts: normPatterns(opts.ZAPIHosts)}
	metaEP, metaBase, err := parseBase("Meta Graph API base URL", opts.MetaGraphBase)
	if err != nil {
		return nil, err
	}
	f.metaBase = metaBase
	f.metaGraph = &policy{name: "Meta Graph API", base: metaEP}
	f.metaMedia = &policy{name: "Meta media host", base: metaEP, hosts: normPatterns(opts.MetaMediaHosts)}
	f.dial = newDialer(opts.ConnectTimeout, cdnEP, wapiEP, zapiEP, metaEP)
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the dial hook
		DialContext:           f.dial.DialContext,
		TLSHandshakeTimeout:   opts.TLSTimeout,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true, // count and cap the bytes as sent
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	f.client = &http.Client{Transport: tr, CheckRedirect: checkRedirect}
	return f, nil
}

// maxRedirects is how many redirects one download may follow.
const maxRedirects = 3

type policyKey struct{}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return &Error{Kind: ErrStatus, URL: req.URL.Redacted(), Err: fmt.Errorf("more than %d redirects", maxRedirects)}
	}
	pol, _ := req.Context().Value(policyKey{}).(*policy)
	if pol == nil {
		return &Error{Kind: ErrForbiddenHost, URL: req.URL.Redacted(), Err: errors.New("redirect outside a fetch")}
	}
	return pol.permit(req.URL)
}

// Info describes an opened download.
type Info struct {
	// URL is the URL requested. It never carries a token (the W-API token
	// travels in a header); CDN URLs keep their oh/oe signature.
	URL string
	// ContentLength is the size the server announced, -1 when unknown.
	ContentLength int64
}

// Open starts downloading the encrypted blob of d from the CDN. The URL is
// CDNBase + directPath, the query kept byte for byte; without a directPath,
// the message url when it is https on an allowed host with a real path.
//
// The returned body enforces MaxBytes, the idle timeout and the overall
// deadline; its read errors are classified like Open's. The caller closes it.
func (f *Fetcher) Open(ctx context.Context, d *wamedia.Descriptor) (io.ReadCloser, Info, error) {
	raw, err := f.location(d)
	if err != nil {
		return nil, Info{}, err
	}
	h := http.Header{}
	h.Set("Origin", "https://web.whatsapp.com")
	h.Set("Referer", "https://web.whatsapp.com/")
	return f.get(ctx, raw, f.cdn, h, d.FileLength)
}

// CDNBlocked reports whether the host d's blob would be fetched from has
// its circuit open (see Breaker), for how long yet (wait) and for how long
// it has been down: the caller waits instead of spending an attempt, and
// tries the W-API fallback when the CDN stays down. Descriptors without a
// usable location are never blocked (Open reports their problem).
func (f *Fetcher) CDNBlocked(d *wamedia.Descriptor) (wait, down time.Duration, host string, blocked bool) {
	raw, err := f.location(d)
	if err != nil {
		return 0, 0, "", false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return 0, 0, "", false
	}
	wait, blocked = f.breaker.Blocked(u.Host)
	return wait, f.breaker.Down(u.Host), u.Host, blocked
}

// CDNDown reports for how long the circuit of the host of d's blob has
// been open; zero when it is closed.
func (f *Fetcher) CDNDown(d *wamedia.Descriptor) time.Duration {
	_, down, _, _ := f.CDNBlocked(d)
	return down
}

// CDNOpen reports whether the circuit of the host of d's blob is open: the
// host failed Threshold times in a row and has not answered since.
func (f *Fetcher) CDNOpen(d *wamedia.Descriptor) bool {
	raw, err := f.location(d)
	if err != nil {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && f.breaker.Open(u.Host)
}

// location picks the URL of d's blob.
func (f *Fetcher) location(d *wamedia.Descriptor) (string, error) {
	if d.DirectPath != "" {
		if !strings.HasPrefix(d.DirectPath, "/") {
			return "", &Error{Kind: ErrNoLocation, Err: errors.New("directPath does not start with /")}
		}
		// Concatenate, never re-encode: oh and oe must reach the CDN intact.
		raw := f.cdnBase + d.DirectPath
		u, err := url.Parse(raw)
		if err != nil {
			return "", &Error{Kind: ErrNoLocation, Err: fmt.Errorf("directPath: %w", err)}
		}
		if hostport(u) != f.cdn.base.hostport {
			return "", &Error{Kind: ErrForbiddenHost, URL: u.Redacted(), Err: errors.New("directPath changes the host")}
		}
		return raw, nil
	}
	if d.URL == "" {
		return "", &Error{Kind: ErrNoLocation, Err: errors.New("neither directPath nor url")}
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "", &Error{Kind: ErrNoLocation, Err: fmt.Errorf("url: %w", err)}
	}
	if u.Scheme != "https" {
		return "", &Error{Kind: ErrForbiddenHost, URL: u.Redacted(), Err: fmt.Errorf("scheme %q is not allowed for message urls", u.Scheme)}
	}
	if u.Path == "" || u.Path == "/" {
		return "", &Error{Kind: ErrNoLocation, URL: u.Redacted(), Err: errors.New("url has no path")}
	}
	if err := f.cdn.permit(u); err != nil {
		return "", err
	}
	return d.URL, nil
}

// get downloads raw under pol with the usual timeouts and cap. hint is the
// declared size, used for the deadline when no Content-Length comes.
func (f *Fetcher) get(ctx context.Context, raw string, pol *policy, h http.Header, hint int64) (io.ReadCloser, Info, error) {
	start := time.Now()
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		return nil, Info{}, &Error{Kind: ErrNoLocation, Err: err}
	}
	req.Header = h
	resp, g, err := f.send(ctx, req, pol, f.opts.HeaderTimeout)
	if err != nil {
		return nil, Info{}, err
	}
	info := Info{URL: raw, ContentLength: resp.ContentLength}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		discard(resp.Body)
		g.stop()
		return nil, info, statusError(resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	if resp.ContentLength > f.opts.MaxBytes {
		resp.Body.Close()
		g.stop()
		return nil, info, &Error{Kind: ErrTooLarge, URL: raw,
			Err: fmt.Errorf("Content-Length %d exceeds the %d byte cap", resp.ContentLength, f.opts.MaxBytes)}
	}
	size := resp.ContentLength
	if size < 0 {
		size = hint
	}
	if size <= 0 || size > f.opts.MaxBytes {
		size = f.opts.MaxBytes
	}
	total := f.opts.BaseDeadline + time.Duration(float64(size)/float64(f.opts.MinRate)*float64(time.Second))
	g.after(time.Until(start.Add(total)), &timeoutCause{what: "overall download deadline passed", d: total})
	idle := &timeoutCause{what: "no progress while reading the body", d: f.opts.IdleTimeout}
	b := &body{rc: resp.Body, g: g, max: f.opts.MaxBytes, url: raw, idleD: f.opts.IdleTimeout, f: f, host: req.URL.Host}
	b.idle = g.after(f.opts.IdleTimeout, idle)
	f.log.Debug("fetching media", zap.String("host", req.URL.Host), zap.Int64("content_length", resp.ContentLength))
	return b, info, nil
}

// send runs req under pol; headerTimeout bounds the wait for the response
// headers. On success the guard stays armed and owns the request context.
func (f *Fetcher) send(ctx context.Context, req *http.Request, pol *policy, headerTimeout time.Duration) (*http.Response, *guard, error) {
	if err := pol.permit(req.URL); err != nil {
		return nil, nil, err
	}
	host := req.URL.Host
	if wait, ok := f.breaker.Allow(host); !ok {
		return nil, nil, &Error{Kind: ErrCircuitOpen, URL: req.URL.Redacted(), retryAfter: wait, hasRetryAfter: true,
			Err: fmt.Errorf("%s failed repeatedly; next try in %s", host, wait.Round(time.Millisecond))}
	}
	g := newGuard(context.WithValue(ctx, policyKey{}, pol))
	req = req.WithContext(g.ctx)
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept-Encoding", "identity")
	wait := g.after(headerTimeout, &timeoutCause{what: "no response headers", d: headerTimeout})
	resp, err := f.client.Do(req)
	wait.Stop()
	if err != nil {
		e := g.explain(err, req.URL.Redacted())
		g.stop()
		f.observe(ctx, host, e)
		return nil, nil, e
	}
	if resp.StatusCode >= 500 {
		f.observe(ctx, host, &Error{Kind: ErrServer})
	} else {
		f.breaker.Success(host)
	}
	return resp, g, nil
}

// observe counts a transport failure of host in the breaker.
func (f *Fetcher) observe(ctx context.Context, host string, err *Error) {
	if breakerFailure(ctx, err) && f.breaker.Failure(host) {
		f.log.Warn("host failing repeatedly: circuit open, requests to it wait", zap.String("host", host),
			zap.Duration("cooldown", f.breaker.cooldown()), zap.Error(err))
	}
}

// discard drains a little of an error body so the connection can be reused.
func discard(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 4<<10)
	rc.Close()
}

// guard owns one request's context and the timers that may cancel it, each
// with a cause that explain turns into ErrTimeout.
type guard struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	timers []*time.Timer
}

func newGuard(parent context.Context) *guard {
	ctx, cancel := context.WithCancelCause(parent)
	return &guard{parent: parent, ctx: ctx, cancel: cancel}
}

func (g *guard) after(d time.Duration, cause error) *time.Timer {
	t := time.AfterFunc(d, func() { g.cancel(cause) })
	g.timers = append(g.timers, t)
	return t
}

func (g *guard) stop() {
	for _, t := range g.timers {
		t.Stop()
	}
	g.cancel(context.Canceled)
}

// body streams a response body under the size cap and the guard's timers.
type body struct {
	rc    io.ReadCloser
	g     *guard
	idle  *time.Timer
	idleD time.Duration
	max   int64
	n     int64
	url   string
	err   error // sticky
	f     *Fetcher
	host  string
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if room := b.max + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		b.n += int64(n)
		b.idle.Reset(b.idleD)
	}
	if b.n > b.max {
		b.err = &Error{Kind: ErrTooLarge, URL: b.url, Err: fmt.Errorf("body exceeds the %d byte cap", b.max)}
		b.g.stop()
		return n - int(b.n-b.max), b.err
	}
	switch {
	case err == io.EOF:
		b.g.stop()
	case err != nil:
		e := b.g.explain(err, b.url)
		b.err = e
		b.g.stop()
		b.f.observe(b.g.parent, b.host, e)
		return n, b.err
	}
	return n, err
}

func (b *body) Close() error {
	b.g.stop()
	return b.rc.Close()
}
