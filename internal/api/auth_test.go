package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/multichat/mediapipe/internal/api"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestAuth: without a valid token, every route, existing or not, answers 401
// and nothing else.
func TestAuth(t *testing.T) {
	b := setup(t)
	// This test sends more invalid tokens than one address may (see
	// TestTokenGuessingIsLimited): a larger budget keeps every answer 401.
	b.srv = httptest.NewServer(api.New(api.Options{Store: b.store, Blobs: b.blobs, AuthFailures: 1000}))
	t.Cleanup(b.srv.Close)
	id := b.record(t, message(b.a.instances[0], chatA, descriptor(wamedia.Image)))[0]
	b.succeed(t, b.a.id, id, []byte(jpegBytes), "image/jpeg", ".jpg")
	routes := []string{
		"/v1/media", "/v1/media?type=image", fmt.Sprintf("/v1/media/%d", id), fmt.Sprintf("/v1/media/%d/content", id),
		fmt.Sprintf("/v1/media/%d/thumbnail", id), "/v1/stats", "/v1/nothing", "/v1/media/999999",
	}
	for _, route := range routes {
		for name, header := range map[string]string{
			"no header":      "",
			"empty bearer":   "Bearer ",
			"wrong token":    "Bearer mpk_" + strings.Repeat("A", 43),
			"webhook secret": "Bearer mpw_" + strings.Repeat("A", 43),
			"basic":          "Basic " + b.a.token,
			"token alone":    b.a.token,
			"huge":           "Bearer " + strings.Repeat("x", 10000),
		} {
			var hdr []string
			if header != "" {
				hdr = []string{"Authorization", header}
			}
			resp, body := b.get(t, "", route, hdr...)
			msg := requireError(t, resp, body, http.StatusUnauthorized)
			require.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer"), "%s %s", route, name)
			require.NotContains(t, string(body), jpegBytes)
			_ = msg
		}
	}

	// With a token: the scheme is case-insensitive.
	resp, body := b.get(t, "", "/v1/media", "Authorization", "bearer "+b.a.token)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	resp, body = b.get(t, b.b.token, "/v1/stats")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	// Unknown routes and methods, once authenticated.
	resp, body = b.get(t, b.a.token, "/v1/nothing")
	requireError(t, resp, body, http.StatusNotFound)
	resp, _ = b.do(t, http.MethodDelete, b.a.token, fmt.Sprintf("/v1/media/%d", id))
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestTokenGuessingIsLimited: past the budget of invalid tokens per client
// address, invalid tokens get 429 with Retry-After, while a valid token from
// the same address still works; the client address comes from
// X-Forwarded-For only behind a trusted proxy; refusals are logged with the
// address, never the token.
func TestTokenGuessingIsLimited(t *testing.T) {
	b := setup(t)
	core, logs := observer.New(zapcore.InfoLevel)
	b.srv = httptest.NewServer(api.New(api.Options{Store: b.store, Blobs: b.blobs, Log: zap.New(core), AuthFailures: 5,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}))
	t.Cleanup(b.srv.Close)
	const guess = "mpk_guessedTokenNeverLogged0000000000000000000"
	behind := func(client string) []string { return []string{"X-Forwarded-For", "198.51.100.1, " + client} }

	for range 5 {
		resp, body := b.get(t, guess, "/v1/media", behind("203.0.113.5")...)
		requireError(t, resp, body, http.StatusUnauthorized)
	}
	resp, body := b.get(t, guess, "/v1/media", behind("203.0.113.5")...)
	requireError(t, resp, body, http.StatusTooManyRequests)
	require.Equal(t, "12", resp.Header.Get("Retry-After"), "one more try every 60s/5")

	resp, body = b.get(t, b.a.token, "/v1/media", behind("203.0.113.5")...)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a valid token is never refused: %s", body)
	resp, body = b.get(t, guess, "/v1/media", behind("203.0.113.6")...)
	requireError(t, resp, body, http.StatusUnauthorized) // another client behind the proxy

	// Without X-Forwarded-For the proxy itself is the client: its own budget.
	resp, body = b.get(t, guess, "/v1/stats")
	requireError(t, resp, body, http.StatusUnauthorized)

	require.Equal(t, 1, logs.FilterMessageSnippet("too many invalid API tokens").Len(), "the lockout is logged once")
	refused := logs.FilterMessage("API request refused").All()
	require.Len(t, refused, 8)
	for _, e := range refused {
		require.Contains(t, []string{"203.0.113.5", "203.0.113.6", "127.0.0.1"}, e.ContextMap()["client_addr"])
		require.Contains(t, []string{"invalid_token", "rate_limited"}, e.ContextMap()["reason"])
	}
	for _, e := range logs.All() {
		require.NotContains(t, fmt.Sprint(e.ContextMap()), guess)
		require.NotContains(t, fmt.Sprint(e.ContextMap()), b.a.token)
	}
}

// TestUntrustedForwardedForIsIgnored: from a peer that is not a trusted
// proxy, X-Forwarded-For cannot buy a fresh budget.
func TestUntrustedForwardedForIsIgnored(t *testing.T) {
	b := setup(t)
	b.srv = httptest.NewServer(api.New(api.Options{Store: b.store, Blobs: b.blobs, AuthFailures: 2}))
	t.Cleanup(b.srv.Close)
	for i := range 3 {
		resp, body := b.get(t, "mpk_wrong", "/v1/media", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		want := http.StatusUnauthorized
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		requireError(t, resp, body, want)
	}
	resp, body := b.get(t, b.b.token, "/v1/stats")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
}
