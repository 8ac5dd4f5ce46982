package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestAuth: without a valid token, every route, existing or not, answers 401
// and nothing else.
func TestAuth(t *testing.T) {
	b := setup(t)
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
