// Package admin serves the operators' admin page at /admin/: every cliente's
// media with thumbnails and filters, one item's details, charts of the media
// per day, type and status, and a reprocess action that resets rows to
// pending and publishes their download jobs again, as `mediapipe reprocess`
// does, and the dead letters with a replay action, as `mediapipe deadletter`.
//
// The page is server-rendered (html/template, inline SVG charts, one
// stylesheet served from the binary, no JavaScript). It is protected by the
// ADMIN_TOKEN: the login form posts the token, and the server answers with an
// HMAC-signed session cookie (HttpOnly, SameSite=Strict, Secure under TLS)
// that never holds the token itself; a logout revokes the session on the
// server. Wrong tokens are limited per client address (429 past the budget;
// the right token is never refused). Every form that changes something also
// carries a per-session CSRF token. Without an ADMIN_TOKEN the page is
// disabled and answers 404.
//
// Routes, under /admin/:
//
//	GET  /admin/                         overview: totals and charts (?cliente=ID)
//	GET  /admin/login, POST /admin/login the token form
//	POST /admin/logout
//	GET  /admin/media                    list, newest first (?cliente, instance, chat, type, status, reason, since, until, before)
//	GET  /admin/media/{id}               one item
//	GET  /admin/media/{id}/thumbnail     its jpegThumbnail (image/jpeg)
//	GET  /admin/media/{id}/file          its stored file: inline for safe image, audio and video types,
//	                                     else (or with ?download=1) as an attachment
//	POST /admin/media/{id}/reprocess     reset it to pending and queue its download
//	POST /admin/reprocess                the same for every row of some statuses (and cliente), after a
//	                                     confirmation by failure reason
//	GET  /admin/deadletters              dead-letter records (?stream, reason, since)
//	POST /admin/deadletters/replay       replay the posted records (seq), after a confirmation
//	GET  /admin/static/admin.css
package admin

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/clientaddr"
)

// Options are what New needs.
type Options struct {
	Store *catalog.Store
	// Blobs is the media store (MEDIA_STORE) the stored files are opened
	// from; nil disables opening them.
	Blobs blob.Store
	// JS is where the reprocess action publishes download jobs; nil
	// disables the action.
	JS jetstream.JetStream
	// Token is the ADMIN_TOKEN. Empty disables the admin page.
	Token string
	Log   *zap.Logger
	// SessionTTL is how long a login lasts; 0 takes DefaultSessionTTL.
	SessionTTL time.Duration
	// AuthFailures is how many wrong tokens one client address may post
	// per minute before further wrong ones are answered 429
	// (API_AUTH_FAILURES); 0 takes authlimit.DefaultBudget. The right
	// token is never refused.
	AuthFailures int
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// Replicas of the JetStream bucket of logged-out sessions (use
	// STREAM_REPLICAS); 0 takes 1.
	Replicas int
}

// Lists is what the admin page reads over every cliente; a
// *catalog.Operator (internal/catalog/operator) has it.
type Lists interface {
	Clientes(ctx context.Context) ([]catalog.Cliente, error)
	Stats(ctx context.Context, clienteID int64) (catalog.Stats, error)
	MediaPerDay(ctx context.Context, clienteID int64, since time.Time) ([]catalog.DayCount, error)
	AdminListMedia(ctx context.Context, f catalog.AdminMediaFilter) (catalog.AdminMediaPage, error)
	AdminMediaByID(ctx context.Context, id int64) (catalog.Media, error)
	AdminMediaThumbnail(ctx context.Context, id int64) ([]byte, error)
	FailureReasons(ctx context.Context, clienteID int64) ([]catalog.ReasonCount, error)
	ReprocessPreview(ctx context.Context, f catalog.ReprocessFilter) ([]catalog.ReasonCount, error)
}

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 12 * time.Hour

// minTokenLen is the ADMIN_TOKEN length below which New warns.
const minTokenLen = 16

//go:embed templates/*.html static/*
var assets embed.FS

// Handler serves the admin page. Mount it at /admin/.
type Handler struct {
	store    *catalog.Store
	blobs    blob.Store
	lists    Lists // the queries over every cliente
	js       jetstream.JetStream
	log      *zap.Logger
	sessions *sessions
	revoked  *revocations
	failures *authlimit.Limiter // wrong tokens per client address
	refusals *authlimit.Sampler // log lines about refused logins
	clients  clientaddr.Resolver
	pages    map[string]*template.Template
	mux      *http.ServeMux
	now      func() time.Time
}

// New returns the admin handler; without a token, a handler that answers
// every request 404 and says the page is disabled.
func New(o Options) http.Handler {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Token == "" {
		o.Log.Warn("admin page disabled: ADMIN_TOKEN is not set")
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			setSecurityHeaders(w.Header())
			http.Error(w, "the admin page is disabled: set ADMIN_TOKEN to enable it", http.StatusNotFound)
		})
	}
	if len(o.Token) < minTokenLen {
		o.Log.Warn("ADMIN_TOKEN is short: use at least 16 random characters", zap.Int("min_length", minTokenLen))
	}
	ttl := o.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	h := &Handler{
		store: o.Store, blobs: o.Blobs, lists: operator.New(o.Store), js: o.JS, log: o.Log, now: time.Now,
		failures: &authlimit.Limiter{Budget: o.AuthFailures},
		refusals: &authlimit.Sampler{Log: o.Log},
		clients:  clientaddr.Resolver{Trusted: o.TrustedProxies},
		pages:    parsePages(),
		mux:      http.NewServeMux(),
	}
	h.sessions = newSessions(o.Token, ttl, func() time.Time { return h.now() })
	h.revoked = newRevocations(o.JS, ttl, max(o.Replicas, 1), h.refusals)

	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	h.mux.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})))
	h.mux.HandleFunc("GET /admin/login", h.loginForm)
	h.mux.HandleFunc("POST /admin/login", h.login)
	h.mux.HandleFunc("POST /admin/logout", h.authed(h.logout))
	h.mux.HandleFunc("GET /admin/{$}", h.authed(h.overview))
	h.mux.HandleFunc("GET /admin/media", h.authed(h.list))
	h.mux.HandleFunc("GET /admin/media/{id}", h.authed(h.detail))
	h.mux.HandleFunc("GET /admin/media/{id}/thumbnail", h.authed(h.thumbnail))
	h.mux.HandleFunc("GET /admin/media/{id}/file", h.authed(h.file))
	h.mux.HandleFunc("POST /admin/media/{id}/reprocess", h.authed(h.reprocessOne))
	h.mux.HandleFunc("POST /admin/reprocess", h.authed(h.reprocessMany))
	h.mux.HandleFunc("GET /admin/deadletters", h.authed(h.deadLetters))
	h.mux.HandleFunc("POST /admin/deadletters/replay", h.authed(h.replayDeadLetters))
	return h
}

// ServeHTTP sets the security headers, refuses cross-site form posts and
// routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
		h.log.Warn("admin: cross-site request refused", zap.String("path", r.URL.Path),
			zap.String("origin", r.Header.Get("Origin")))
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows the page's own stylesheet and images and
// nothing else: no script runs, even if an escaping bug let markup through.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// sameOrigin reports whether a state-changing request comes from the admin
// page itself: its Origin (or, without one, its Sec-Fetch-Site) must not
// name another site. Requests without either (curl, old browsers) pass; the
// CSRF token still guards them.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the active navigation entry
	CSRF  string // empty when logged out
	Flash *flash
	Error string
	Data  any
}

type flash struct {
	Kind string // ok or error
	Text string
}

// render executes the named page into a buffer, so that a template error
// answers 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// internalError logs err and answers 500 without details.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("admin request", zap.String("path", r.URL.Path), zap.Error(err))
	http.Error(w, "internal error", http.StatusInternalServerError)
}
