package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/authlimit"
	"github.com/multichat/mediapipe/internal/catalog"
)

// maxCachedTokens bounds the token cache; when it is full of live entries it
// starts over.
const maxCachedTokens = 10000

// maxTokenLen is far above a real token (mpk_ and 43 characters); longer
// values are refused without a lookup.
const maxTokenLen = 256

// maxLoggedPath bounds the request path in a refusal's log line.
const maxLoggedPath = 200

type clienteKey struct{}

func withCliente(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, clienteKey{}, id)
}

// clienteOf returns the authenticated cliente of a request.
func clienteOf(r *http.Request) int64 {
	id, _ := r.Context().Value(clienteKey{}).(int64)
	return id
}

// authenticate answers 401 (or 500 when the catalogue fails) unless the
// request carries a valid cliente API token, whose cliente it returns. The
// token is checked first: a valid one is never refused. An invalid one
// counts against the client address's budget; past it, invalid tokens are
// answered 429 with Retry-After. Refusals are logged (rate-limited per
// reason) with the client address, never the token.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (int64, bool) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		h.refuse(w, r, http.StatusUnauthorized, "missing_token", `Bearer realm="mediapipe"`,
			"missing API token: send Authorization: Bearer <token>")
		return 0, false
	}
	id, err := h.auth.cliente(r.Context(), token)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		key := h.clients.Key(r)
		if v := h.failures.Fail(key); v.Limited {
			if v.Started {
				budget, window := h.failures.BudgetPerWindow()
				h.log.Warn("too many invalid API tokens: answering 429 to further invalid ones for a while",
					zap.String("client_addr", key), zap.Int("failures", budget), zap.Duration("window", window))
			}
			w.Header().Set("Retry-After", authlimit.RetryAfter(v.RetryAfter))
			h.refuse(w, r, http.StatusTooManyRequests, "rate_limited", "",
				"too many invalid API tokens from this address; retry later")
			return 0, false
		}
		h.refuse(w, r, http.StatusUnauthorized, "invalid_token", `Bearer realm="mediapipe", error="invalid_token"`,
			"invalid API token")
		return 0, false
	case err != nil:
		h.internalError(w, r, err)
		return 0, false
	case id <= 0: // 0 would mean every cliente to some queries
		h.log.Error("API token resolved to an invalid cliente id", zap.Int64("cliente_id", id))
		writeError(w, http.StatusInternalServerError, codeInternal, "internal error")
		return 0, false
	}
	return id, true
}

// refuse answers an unauthenticated request and logs it, sampled.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, code int, reason, challenge, msg string) {
	path := r.URL.Path
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath] + "…"
	}
	h.refusals.Warn(reason, "API request refused", zap.Int("status", code),
		zap.String("client_addr", h.clients.String(r)), zap.String("method", r.Method), zap.String("path", path))
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	errCode := codeUnauthorized
	if code == http.StatusTooManyRequests {
		errCode = codeRateLimited
	}
	writeError(w, code, errCode, msg)
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authenticator resolves API tokens to clientes, remembering valid ones for
// ttl. Unknown tokens are not remembered: a new cliente's token works at
// once. Entries are keyed by the token's hash, so the cache holds no
// secrets.
type authenticator struct {
	lookup func(ctx context.Context, token string) (int64, string, error)
	ttl    time.Duration
	max    int
	now    func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]cachedCliente
}

type cachedCliente struct {
	id      int64
	expires time.Time
}

func newAuthenticator(lookup func(context.Context, string) (int64, string, error), ttl time.Duration, max int) *authenticator {
	return &authenticator{lookup: lookup, ttl: ttl, max: max, now: time.Now, entries: make(map[[32]byte]cachedCliente)}
}

// cliente returns the cliente of token, or catalog.ErrNotFound.
func (a *authenticator) cliente(ctx context.Context, token string) (int64, error) {
	if len(token) > maxTokenLen {
		return 0, catalog.ErrNotFound
	}
	key := catalog.HashSecret(token)
	if a.ttl > 0 {
		a.mu.Lock()
		e, ok := a.entries[key]
		a.mu.Unlock()
		if ok && a.now().Before(e.expires) {
			return e.id, nil
		}
	}
	id, _, err := a.lookup(ctx, token)
	if err != nil {
		return 0, err
	}
	if a.ttl > 0 {
		a.put(key, id)
	}
	return id, nil
}

func (a *authenticator) put(key [32]byte, id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if len(a.entries) >= a.max {
		for k, e := range a.entries {
			if !now.Before(e.expires) {
				delete(a.entries, k)
			}
		}
		if len(a.entries) >= a.max {
			clear(a.entries)
		}
	}
	a.entries[key] = cachedCliente{id: id, expires: now.Add(a.ttl)}
}
