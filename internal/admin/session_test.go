package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/admin"
)

// TestLogoutRevokesTheSession: after a logout the old cookie no longer
// works, wherever it is replayed: on the process that logged it out and,
// through JetStream, on another process sharing the ADMIN_TOKEN. Other
// sessions stay logged in.
func TestLogoutRevokesTheSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		noJS bool
	}{{"with JetStream", false}, {"without JetStream", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, setupOptions{noJS: tc.noJS})
			servers := []*httptest.Server{b.srv}
			if !tc.noJS { // a second process serving the admin page
				other := httptest.NewServer(admin.New(admin.Options{Store: b.store, JS: b.js, Token: adminToken}))
				t.Cleanup(other.Close)
				servers = append(servers, other)
			}
			c, stays := b.client(t), b.client(t)
			csrf := c.login()
			stays.login()
			u, err := url.Parse(b.srv.URL + "/admin/")
			require.NoError(t, err)
			cookies := c.http.Jar.Cookies(u)
			require.Len(t, cookies, 1)
			old := cookies[0]
			stayed := stays.http.Jar.Cookies(u)[0]
			replay := func(srv *httptest.Server, ck *http.Cookie) int {
				req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, srv.URL+"/admin/media", nil)
				require.NoError(t, err)
				req.AddCookie(ck)
				return b.client(t).do(req).StatusCode
			}
			for _, srv := range servers {
				require.Equal(t, http.StatusOK, replay(srv, old), "the session works before the logout")
			}

			resp := c.post("/admin/logout", url.Values{"csrf": {csrf}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			for i, srv := range servers {
				require.Equal(t, http.StatusSeeOther, replay(srv, old), "server %d: the old cookie is refused after the logout", i)
				require.Equal(t, http.StatusOK, replay(srv, stayed), "server %d: another session stays", i)
			}
			require.Equal(t, http.StatusSeeOther, c.get("/admin/").StatusCode)
		})
	}
}
