// Package api is the HTTP API a cliente's systems use to read their media:
// the catalogue rows the analyzer and downloader wrote, the stored files and
// thumbnails, and the statistics. Every request carries the cliente's API
// token (`Authorization: Bearer mpk_...`) and sees only that cliente's rows;
// another cliente's media answers exactly as a missing id does.
//
// Routes, under /v1/ (openapi.json, embedded here, describes them; it is the
// contract, and the tests check every answer against it):
//
//	GET /v1/media                 list, newest first, filtered, by cursor;
//	                              or, with updated_since, the change feed
//	GET /v1/media/{id}            one item
//	GET /v1/media/{id}/content    the stored file (Range, ETag), or a
//	                              redirect to a presigned URL (MEDIA_PRESIGN)
//	GET /v1/media/{id}/thumbnail  the message's jpegThumbnail
//	GET /v1/stats                 the cliente's totals
//	GET /v1/openapi.json          the OpenAPI 3.1 document, without a token
//
// Errors are JSON objects {"error": {"code", "message", "param"}} whose
// code is one of a stable set (see errors.go); the status tells the class.
package api

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/clientaddr"
)

// Options are what New needs.
type Options struct {
	Store Catalog
	Blobs blob.Store // where the downloader stored the files (MEDIA_STORE)
	Log   *zap.Logger
	// Presign, when positive, answers the content route with a redirect to
	// a URL of the store valid that long (MEDIA_PRESIGN), after the same
	// authentication and scoping; Blobs must then be able to presign (S3).
	Presign time.Duration
	// TokenTTL is how long a verified API token is remembered; 0 takes
	// DefaultTokenTTL, a negative value disables the cache.
	TokenTTL time.Duration
	// AuthFailures is how many invalid tokens one client address may send
	// per minute before further invalid ones are answered 429
	// (API_AUTH_FAILURES); 0 takes authlimit.DefaultBudget. A valid token
	// is never refused.
	AuthFailures int
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
}

// DefaultTokenTTL bounds how long a token stays valid after its cliente's
// token changed (a leaked token is revoked within it). Each process then
// looks a busy cliente's token up once per TTL: a negligible load.
const DefaultTokenTTL = 5 * time.Second

// Handler serves the API. Mount it at /v1/.
type Handler struct {
	store   Catalog
	blobs   blob.Store
	presign time.Duration
	log     *zap.Logger
	mux     *http.ServeMux
	auth    *authenticator
	// Failed token attempts: limited per client address, logged sampled.
	failures *authlimit.Limiter
	clients  clientaddr.Resolver
	refusals *authlimit.Sampler
}

// routes are the API's routes under /v1, each answering GET and HEAD; the
// OpenAPI document describes exactly these (TestOpenAPIDocument).
func (h *Handler) routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"/v1/media":                h.listMedia,
		"/v1/media/{id}":           h.getMedia,
		"/v1/media/{id}/content":   h.content,
		"/v1/media/{id}/thumbnail": h.thumbnail,
		"/v1/stats":                h.stats,
		openAPIPath:                serveOpenAPI,
	}
}

// New returns the API handler.
func New(o Options) *Handler {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	ttl := o.TokenTTL
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	h := &Handler{store: o.Store, blobs: o.Blobs, presign: o.Presign, log: o.Log, mux: http.NewServeMux(),
		failures: &authlimit.Limiter{Budget: o.AuthFailures}, clients: clientaddr.Resolver{Trusted: o.TrustedProxies},
		refusals: &authlimit.Sampler{Log: o.Log}}
	h.auth = newAuthenticator(o.Store.ClienteByAPIToken, ttl, maxCachedTokens)
	for path, fn := range h.routes() {
		h.mux.HandleFunc("GET "+path, fn) // and HEAD
		h.mux.HandleFunc(path, methodNotAllowed)
	}
	h.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such route")
	})
	return h
}

// ServeHTTP authenticates the request and routes it. Nothing, not even
// whether a route exists, is answered without a valid token, but the
// OpenAPI document: it holds no data, and client generators fetch it
// without credentials.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == openAPIPath {
		h.mux.ServeHTTP(w, r)
		return
	}
	cliente, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(withCliente(r.Context(), cliente)))
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method "+r.Method+" not allowed: the API is read-only")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// internalError logs err and answers 500 without details.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("api request", zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, http.StatusInternalServerError, codeInternal, "internal error")
}
