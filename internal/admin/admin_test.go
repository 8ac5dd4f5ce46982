package admin_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/admin"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/job"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

func TestDisabledWithoutToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(admin.New(admin.Options{}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/admin/", "/admin/login", "/admin/media"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
		require.Contains(t, string(body), "disabled: set ADMIN_TOKEN")
	}
	resp, err := http.PostForm(srv.URL+"/admin/login", url.Values{"token": {""}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestLogin(t *testing.T) {
	b := setup(t)
	c := b.client(t)

	// Without a session: pages go to the login form, the rest is refused.
	resp := c.get("/admin/media?type=image")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/admin/login?next="+url.QueryEscape("/admin/media?type=image"), resp.Header.Get("Location"))
	require.Equal(t, http.StatusUnauthorized, c.get("/admin/media/1/thumbnail").StatusCode)
	require.Equal(t, http.StatusUnauthorized, c.post("/admin/reprocess", url.Values{"status": {"failed"}}).StatusCode)

	form := c.get("/admin/login?next=" + url.QueryEscape("/admin/media?type=image"))
	require.Equal(t, http.StatusOK, form.StatusCode)
	require.Contains(t, form.body, `type="password"`)
	require.Contains(t, form.body, `value="/admin/media?type=image"`)

	// A wrong token: no cookie.
	resp = c.post("/admin/login", url.Values{"token": {"wrong"}, "next": {"/admin/media"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, resp.body, "Wrong admin token")
	require.Empty(t, resp.Cookies())
	resp = c.post("/admin/login", url.Values{"token": {adminToken + "x"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// The right one: a signed session cookie, never the token.
	resp = c.post("/admin/login", url.Values{"token": {adminToken}, "next": {"/admin/media?type=image"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	require.Equal(t, "/admin/media?type=image", resp.Header.Get("Location"))
	cookies := resp.Cookies()
	require.Len(t, cookies, 1)
	ck := cookies[0]
	require.Equal(t, "mediapipe_admin", ck.Name)
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	require.False(t, ck.Secure, "plain HTTP")
	require.Equal(t, "/admin/", ck.Path)
	require.NotContains(t, ck.Value, adminToken)
	require.NotContains(t, ck.Value, base64.RawURLEncoding.EncodeToString([]byte(adminToken)))
	require.Equal(t, http.StatusOK, c.get("/admin/media?type=image").StatusCode)
	require.Equal(t, http.StatusOK, c.get("/admin/").StatusCode)

	// Behind a TLS proxy the cookie is Secure.
	resp = b.client(t).post("/admin/login", url.Values{"token": {adminToken}}, "X-Forwarded-Proto", "https")
	require.True(t, resp.Cookies()[0].Secure)

	// A tampered cookie is no session.
	for _, value := range []string{
		ck.Value[:len(ck.Value)-2] + "AA",
		strings.Replace(ck.Value, ".", ".9", 1), // later expiry, same signature
		"1.99999999999.x.y",
		adminToken,
	} {
		req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/admin/media", nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: "mediapipe_admin", Value: value})
		resp := b.client(t).do(req)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, value)
	}

	// Logging out needs the CSRF token and clears the cookie (and ends the
	// session on the server: TestLogoutRevokesTheSession).
	csrf := csrfOf(t, c.get("/admin/").body)
	require.Equal(t, http.StatusForbidden, c.post("/admin/logout", nil).StatusCode)
	resp = c.post("/admin/logout", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/admin/login", resp.Header.Get("Location"))
	require.Equal(t, http.StatusSeeOther, c.get("/admin/").StatusCode)
}

func TestLoginNeverRedirectsAway(t *testing.T) {
	b := setup(t)
	for _, next := range []string{
		"//evil.example/", "https://evil.example/admin/", "/\\evil.example", "/admin/\r\nLocation: x",
		"javascript:alert(1)", "/v1/media", "",
	} {
		resp := b.client(t).post("/admin/login", url.Values{"token": {adminToken}, "next": {next}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/admin/", resp.Header.Get("Location"), next)
	}
}

// TestLoginNeverRefusesTheRightToken: past the budget of wrong tokens from
// one address, wrong tokens get 429 with Retry-After, but the right token
// still logs in.
func TestLoginNeverRefusesTheRightToken(t *testing.T) {
	b := setup(t)
	c := b.client(t)
	for range 20 { // authlimit.DefaultBudget
		require.Equal(t, http.StatusUnauthorized, c.post("/admin/login", url.Values{"token": {"guess"}}).StatusCode)
	}
	resp := c.post("/admin/login", url.Values{"token": {"guess"}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "3", resp.Header.Get("Retry-After"), "one more try every 60s/20")
	require.Contains(t, resp.body, "Too many wrong tokens")
	require.Empty(t, resp.Cookies())

	resp = c.post("/admin/login", url.Values{"token": {adminToken}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the right token is never refused")
	require.Len(t, resp.Cookies(), 1)
	require.Equal(t, http.StatusOK, c.get("/admin/").StatusCode)
}

func TestSessionFromAnotherTokenRefused(t *testing.T) {
	b := setup(t)
	other := setup(t, setupOptions{token: "another-admin-token-0123456789", again: true})
	resp := other.client(t).post("/admin/login", url.Values{"token": {"another-admin-token-0123456789"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/admin/", nil)
	require.NoError(t, err)
	req.AddCookie(resp.Cookies()[0])
	require.Equal(t, http.StatusSeeOther, b.client(t).do(req).StatusCode)
}

func TestSecurityHeaders(t *testing.T) {
	b := setup(t)
	c := b.client(t)
	c.login()
	for _, path := range []string{"/admin/login", "/admin/", "/admin/media"} {
		resp := c.get(path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), path)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'", path)
		require.NotContains(t, resp.Header.Get("Content-Security-Policy"), "script-src", path)
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), path)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), path)
	}
	css := c.get("/admin/static/admin.css")
	require.Equal(t, http.StatusOK, css.StatusCode)
	require.Contains(t, css.Header.Get("Content-Type"), "text/css")
	require.Equal(t, http.StatusNotFound, c.get("/admin/nothing").StatusCode)
}

func TestCSRF(t *testing.T) {
	b := setup(t)
	id := b.record(t, b.acme, wamedia.Image)
	require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusFailed, "mac_mismatch"))
	c := b.client(t)
	csrf := c.login()
	path := fmt.Sprintf("/admin/media/%d/reprocess", id)

	require.Equal(t, http.StatusForbidden, c.post(path, nil).StatusCode, "no token")
	require.Equal(t, http.StatusForbidden, c.post(path, url.Values{"csrf": {csrf + "x"}}).StatusCode, "wrong token")
	other := b.client(t)
	otherCSRF := other.login()
	require.NotEqual(t, csrf, otherCSRF, "per session")
	require.Equal(t, http.StatusForbidden, c.post(path, url.Values{"csrf": {otherCSRF}}).StatusCode, "another session's token")
	require.Equal(t, http.StatusForbidden,
		c.post(path, url.Values{"csrf": {csrf}}, "Origin", "https://evil.example").StatusCode, "cross-site origin")
	require.Equal(t, http.StatusForbidden,
		c.post(path, url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "cross-site").StatusCode, "cross-site fetch")
	require.Equal(t, http.StatusForbidden,
		c.post("/admin/reprocess", url.Values{"status": {"failed"}}).StatusCode, "bulk without token")
	status, _ := b.status(t, id)
	require.Equal(t, catalog.StatusFailed, status, "nothing was reset")
	require.Empty(t, b.jobs(t))

	// The same origin with the token passes.
	resp := c.post(path, url.Values{"csrf": {csrf}}, "Origin", b.srv.URL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
}

// ids returns the media ids a list page shows, in order.
func listed(body string) []int64 {
	var out []int64
	for _, m := range regexp.MustCompile(`class="open" href="/admin/media/(\d+)"`).FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, id)
	}
	return out
}

func TestList(t *testing.T) {
	b := setup(t)
	image := b.record(t, b.acme, wamedia.Image, func(m *catalog.Message) {
		m.Media[0].Caption = `<script>alert("x")</script> & <b>bold</b>`
		m.SenderName = `<img src=x onerror=alert(1)>`
	})
	video := b.record(t, b.acme, wamedia.Video)
	require.NoError(t, b.store.Fail(b.ctx, video, catalog.StatusExpired, "expired"))
	sticker := b.record(t, b.globx, wamedia.Sticker)
	b.succeed(t, sticker)
	globexImage := b.record(t, b.globx, wamedia.Image)
	doc := b.record(t, b.globx, wamedia.Document)
	require.NoError(t, b.store.Fail(b.ctx, doc, catalog.StatusFailed, "mac_mismatch"))

	c := b.client(t)
	c.login()
	all := c.get("/admin/media")
	require.Equal(t, http.StatusOK, all.StatusCode)
	require.Equal(t, []int64{doc, globexImage, sticker, video, image}, listed(all.body), "every cliente, newest first")

	// Webhook text is escaped; secrets never appear.
	require.NotContains(t, all.body, "<script>alert")
	require.NotContains(t, all.body, "<img src=x")
	require.Contains(t, all.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;")
	requireNoSecrets(t, b, all.body)

	for query, want := range map[string][]int64{
		"type=image":                                     {globexImage, image},
		"status=expired":                                 {video},
		"status=success":                                 {sticker},
		"reason=mac_mismatch":                            {doc},
		"cliente=" + id(b.acme.id):                       {video, image},
		"instance=GLOBEX-1&type=image":                   {globexImage},
		"chat=5511933334444&type=video":                  {video},
		"since=2000-01-01&until=2100-01-01&type=sticker": {sticker},
		"until=2000-01-01":                               nil,
		"provider=wapi&type=sticker":                     {sticker},
		"provider=waha":                                  nil,
	} {
		resp := c.get("/admin/media?" + query)
		require.Equal(t, http.StatusOK, resp.StatusCode, query)
		require.Equal(t, want, listed(resp.body), query)
	}
	// The form shows the filter applied.
	resp := c.get("/admin/media?type=image&status=pending")
	require.Contains(t, resp.body, `<option value="image" selected>`)
	require.Contains(t, resp.body, `<option value="pending" selected>`)

	// The reason menu lists the reasons recorded, of the cliente chosen.
	resp = c.get("/admin/media?reason=mac_mismatch")
	require.Contains(t, resp.body, `<option value="mac_mismatch" selected>mac_mismatch (1)</option>`)
	require.Contains(t, resp.body, `<option value="expired">expired (1)</option>`)
	resp = c.get("/admin/media?cliente=" + id(b.acme.id))
	require.Contains(t, resp.body, `<option value="expired">expired (1)</option>`)
	require.NotContains(t, resp.body, `mac_mismatch (`)
	resp = c.get("/admin/media?reason=timeout")
	require.Contains(t, resp.body, `<option value="timeout" selected>timeout (0)</option>`, "the chosen one stays")

	for _, query := range []string{"type=gif", "status=done", "cliente=x", "since=yesterday", "before=-3", "reason=%27%3Bdrop", "provider=telegram"} {
		resp := c.get("/admin/media?" + query)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, query)
		require.Contains(t, resp.body, "Bad filter", query)
	}
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func requireNoSecrets(t *testing.T, b *testBundle, body string) {
	t.Helper()
	require.NotContains(t, body, wapiToken)
	require.NotContains(t, body, adminToken)
	require.NotContains(t, body, "mmg.whatsapp.net")
	require.NotContains(t, body, "/v/t62.7118-24/")
	for _, k := range b.mediaKeys {
		for _, enc := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k)} {
			require.NotContains(t, body, enc)
		}
	}
}

func TestListPages(t *testing.T) {
	b := setup(t)
	var msgs []catalog.Message
	for range 55 {
		msgs = append(msgs, message(b.acme, "", b.descriptor(t, wamedia.Audio)))
	}
	rec, err := b.store.RecordMessages(b.ctx, msgs)
	require.NoError(t, err)
	c := b.client(t)
	c.login()
	first := c.get("/admin/media?type=audio")
	require.Len(t, listed(first.body), 50)
	m := regexp.MustCompile(`href="(/admin/media\?[^"]*)" id="older"`).FindStringSubmatch(first.body)
	require.NotNil(t, m, "an Older link")
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	require.Contains(t, next, "type=audio")
	second := c.get(next)
	require.Equal(t, http.StatusOK, second.StatusCode)
	got := listed(second.body)
	require.Len(t, got, 5)
	oldest := rec[0].MediaID
	for _, r := range rec {
		oldest = min(oldest, r.MediaID)
	}
	require.Equal(t, oldest, got[4])
	require.NotContains(t, second.body, `id="older"`)
	require.Contains(t, second.body, "Newest")
}

func TestDetail(t *testing.T) {
	b := setup(t)
	doc := b.record(t, b.globx, wamedia.Document, func(m *catalog.Message) {
		m.Media[0].FileName = `"><script>alert(1)</script>.pdf`
	})
	require.NoError(t, b.store.Fail(b.ctx, doc, catalog.StatusFailed, "mac_mismatch"))
	img := b.record(t, b.acme, wamedia.Image)
	b.succeed(t, img)

	c := b.client(t)
	c.login()
	resp := c.get(fmt.Sprintf("/admin/media/%d", doc))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{"globex", "GLOBEX-1", "documentMessage", "mac_mismatch", "Report",
		"&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;.pdf", `id="reprocess"`, "Chat 5511933334444", "5511933334444@s.whatsapp.net"} {
		require.Contains(t, resp.body, want)
	}
	require.NotContains(t, resp.body, "<script>")
	require.Contains(t, resp.body, `<p class="small warn" id="fails-again"><strong>Likely to fail again:</strong> the media key`)
	requireNoSecrets(t, b, resp.body)

	resp = c.get(fmt.Sprintf("/admin/media/%d", img))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.body, "1/ab/cd/")
	require.Contains(t, resp.body, "120.6 KiB")
	require.Contains(t, resp.body, `<dd id="provider">wapi <span class="muted">(bytes from: cdn)</span></dd>`)
	require.Contains(t, resp.body, `<dd id="integrity"><code>sha256&#43;hmac</code></dd>`, "html/template escapes the +")
	require.NotContains(t, resp.body, `id="reprocess"`, "a success cannot be reprocessed")

	// A download waiting for its retry says so, in the detail and the list.
	vid := b.record(t, b.acme, wamedia.Video)
	_, _, err := b.store.StartDownload(b.ctx, vid)
	require.NoError(t, err)
	require.NoError(t, b.store.RecordRetry(b.ctx, vid, catalog.Retry{Next: time.Now().Add(time.Hour), Reason: "timeout", Best: "timeout"}))
	resp = c.get(fmt.Sprintf("/admin/media/%d", vid))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.body, `id="retrying"`)
	require.Contains(t, resp.body, `<code id="last-reason">timeout</code>`)
	require.NotContains(t, resp.body, `id="fails-again"`)
	resp = c.get("/admin/media")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.body, "retrying (<code>timeout</code>), attempts: 1")

	require.Equal(t, http.StatusNotFound, c.get(fmt.Sprintf("/admin/media/%d", img+1000)).StatusCode)
	require.Equal(t, http.StatusNotFound, c.get("/admin/media/abc").StatusCode)
	require.Equal(t, http.StatusNotFound, c.get("/admin/media/-1").StatusCode)
}

func TestThumbnail(t *testing.T) {
	b := setup(t)
	img := b.record(t, b.acme, wamedia.Image)
	audio := b.record(t, b.acme, wamedia.Audio) // no thumbnail
	want, err := operator.New(b.store).AdminMediaThumbnail(b.ctx, img)
	require.NoError(t, err)

	c := b.client(t)
	c.login()
	resp := c.get(fmt.Sprintf("/admin/media/%d/thumbnail", img))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
	require.Equal(t, string(want), resp.body)
	require.Equal(t, http.StatusNotFound, c.get(fmt.Sprintf("/admin/media/%d/thumbnail", audio)).StatusCode)
}

func TestOverview(t *testing.T) {
	b := setup(t)
	for range 3 {
		b.record(t, b.acme, wamedia.Image)
	}
	old := b.record(t, b.globx, wamedia.Video)
	require.NoError(t, b.store.Fail(b.ctx, old, catalog.StatusFailed, "timeout"))
	_, err := pgtest.DB(t, b.store).Exec(b.ctx, `UPDATE media_files SET created_at = now() - interval '3 days' WHERE id = $1`, old)
	require.NoError(t, err)

	c := b.client(t)
	c.login()
	resp := c.get("/admin/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.body, `<span class="value" id="total">4</span>`)
	require.Contains(t, resp.body, `id="chart-days"`)
	require.Equal(t, 30, strings.Count(resp.body, `<rect class="col"`), "a column per day")
	require.Contains(t, resp.body, time.Now().UTC().Format("2006-01-02")+": 3 media")
	require.Contains(t, resp.body, time.Now().UTC().AddDate(0, 0, -3).Format("2006-01-02")+": 1 media")
	require.Contains(t, resp.body, `<title>image: 3</title>`)
	require.Contains(t, resp.body, `<title>failed: 1</title>`)
	require.Contains(t, resp.body, `href="/admin/media?type=image"`)
	require.Contains(t, resp.body, "<code>timeout</code>")
	require.Contains(t, resp.body, `<a href="/admin/media?provider=wapi">wapi</a></td><td class="num">4</td>`)
	requireNoSecrets(t, b, resp.body)

	one := c.get("/admin/?cliente=" + id(b.globx.id))
	require.Equal(t, http.StatusOK, one.StatusCode)
	require.Contains(t, one.body, `<span class="value" id="total">1</span>`)
	require.Contains(t, one.body, `href="/admin/media?cliente=`+id(b.globx.id)+`&amp;type=video"`)
	require.Equal(t, http.StatusBadRequest, c.get("/admin/?cliente=x").StatusCode)
}

func TestReprocessOne(t *testing.T) {
	b := setup(t)
	failed := b.record(t, b.acme, wamedia.Sticker)
	require.NoError(t, b.store.Fail(b.ctx, failed, catalog.StatusExpired, "expired"))
	success := b.record(t, b.acme, wamedia.Image)
	b.succeed(t, success)

	c := b.client(t)
	csrf := c.login()
	resp := c.post(fmt.Sprintf("/admin/media/%d/reprocess", failed), url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	require.Equal(t, fmt.Sprintf("/admin/media/%d?msg=reprocessed", failed), resp.Header.Get("Location"))
	status, reason := b.status(t, failed)
	require.Equal(t, catalog.StatusPending, status)
	require.Empty(t, reason)
	require.Equal(t, []job.Download{{MediaID: failed, ClienteID: b.acme.id, InstanceID: b.acme.instance, Type: wamedia.Sticker}}, b.jobs(t),
		"the job names the cliente and instance, for the downloader's lines")
	page := c.get(resp.Header.Get("Location"))
	require.Contains(t, page.body, "queued a new download job")

	// Again: a fresh generation, so the replay is not dropped as a duplicate.
	resp = c.post(fmt.Sprintf("/admin/media/%d/reprocess", failed), url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Len(t, b.jobs(t), 2)

	resp = c.post(fmt.Sprintf("/admin/media/%d/reprocess", success), url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Location"), "msg=not_reprocessable")
	status, _ = b.status(t, success)
	require.Equal(t, catalog.StatusSuccess, status)
	require.Len(t, b.jobs(t), 2)

	require.Equal(t, http.StatusNotFound, c.post(fmt.Sprintf("/admin/media/%d/reprocess", success+1000), url.Values{"csrf": {csrf}}).StatusCode)
	require.Equal(t, http.StatusMethodNotAllowed, c.get(fmt.Sprintf("/admin/media/%d/reprocess", failed)).StatusCode)
}

func TestReprocessMany(t *testing.T) {
	b := setup(t)
	var acmeFailed []int64
	for range 3 {
		id := b.record(t, b.acme, wamedia.Image)
		require.NoError(t, b.store.Fail(b.ctx, id, catalog.StatusFailed, "timeout"))
		acmeFailed = append(acmeFailed, id)
	}
	acmeExpired := b.record(t, b.acme, wamedia.Video)
	require.NoError(t, b.store.Fail(b.ctx, acmeExpired, catalog.StatusExpired, "expired"))
	globexFailed := b.record(t, b.globx, wamedia.Audio)
	require.NoError(t, b.store.Fail(b.ctx, globexFailed, catalog.StatusFailed, "http_error"))
	mismatch := b.record(t, b.acme, wamedia.Image)
	require.NoError(t, b.store.Fail(b.ctx, mismatch, catalog.StatusFailed, "type_mismatch"))

	c := b.client(t)
	csrf := c.login()
	// The first post only asks: how many rows, which reasons.
	resp := c.post("/admin/reprocess", url.Values{"csrf": {csrf}, "status": {"failed"}, "cliente": {id(b.acme.id)}})
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.body)
	require.Empty(t, b.jobs(t), "nothing before the confirmation")
	require.Contains(t, resp.body, `<strong id="total">4</strong>`)
	require.Contains(t, resp.body, "acme")
	form := confirmForm(t, resp.body, "confirm-reprocess")
	require.Equal(t, []string{"timeout"}, form["reason"], "type_mismatch is not ticked")
	require.Equal(t, id(b.acme.id), form.Get("cliente"))
	require.Regexp(t, `<tr data-reason="type_mismatch" class="fails">`, resp.body)
	require.Contains(t, resp.body, "fails again:")
	status, _ := b.status(t, acmeFailed[0])
	require.Equal(t, catalog.StatusFailed, status)

	resp = c.post("/admin/reprocess", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, resp.body)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/admin/", loc.Path)
	require.Equal(t, "queued", loc.Query().Get("msg"))
	require.Equal(t, "3", loc.Query().Get("n"))
	var published []int64
	for _, j := range b.jobs(t) {
		published = append(published, j.MediaID)
	}
	require.ElementsMatch(t, acmeFailed, published)
	for _, id := range acmeFailed {
		status, _ := b.status(t, id)
		require.Equal(t, catalog.StatusPending, status)
	}
	status, _ = b.status(t, globexFailed)
	require.Equal(t, catalog.StatusFailed, status, "another cliente")
	status, reason := b.status(t, mismatch)
	require.Equal(t, catalog.StatusFailed+" type_mismatch", status+" "+reason, "not asked for")
	page := c.get(resp.Header.Get("Location"))
	require.Contains(t, page.body, "Reset 3 rows to pending")

	// Every cliente, failed and expired; the operator ticks type_mismatch too.
	resp = c.post("/admin/reprocess", url.Values{"csrf": {csrf}, "status": {"failed,expired"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	form = confirmForm(t, resp.body, "confirm-reprocess")
	require.ElementsMatch(t, []string{"expired", "http_error"}, form["reason"])
	form.Add("reason", "type_mismatch")
	resp = c.post("/admin/reprocess", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Location"), "n=3")
	require.Len(t, b.jobs(t), 6)
	status, _ = b.status(t, mismatch)
	require.Equal(t, catalog.StatusPending, status)

	resp = c.post("/admin/reprocess", url.Values{"csrf": {csrf}, "status": {"failed,expired"}})
	require.Contains(t, resp.body, `id="nothing"`)
	// A confirmation with nothing ticked does nothing.
	resp = c.post("/admin/reprocess", url.Values{"csrf": {csrf}, "status": {"pending"}, "confirm": {"1"}})
	require.Contains(t, resp.Header.Get("Location"), "msg=nothing")
	require.Len(t, b.jobs(t), 6)

	require.Equal(t, http.StatusBadRequest, c.post("/admin/reprocess", url.Values{"csrf": {csrf}, "status": {"success"}}).StatusCode)
	require.Equal(t, http.StatusBadRequest, c.post("/admin/reprocess", url.Values{"csrf": {csrf}, "status": {"failed"}, "cliente": {"x"}}).StatusCode)
}

// inputRE matches an input element of a page.
var inputRE = regexp.MustCompile(`<input [^>]*>`)

// attrRE matches one attribute of an element.
var attrRE = regexp.MustCompile(`(\w+)(?:="([^"]*)")?`)

// confirmForm returns what the browser would post from the form with the
// given id: its hidden fields and ticked checkboxes.
func confirmForm(t testing.TB, body, formID string) url.Values {
	t.Helper()
	i := strings.Index(body, `id="`+formID+`"`)
	require.GreaterOrEqual(t, i, 0, "no form %s", formID)
	rest := body[i:]
	rest = rest[:strings.Index(rest, "</form>")]
	out := url.Values{}
	for _, in := range inputRE.FindAllString(rest, -1) {
		attrs := map[string]string{}
		for _, m := range attrRE.FindAllStringSubmatch(strings.TrimPrefix(in, "<input"), -1) {
			attrs[m[1]] = html.UnescapeString(m[2])
		}
		_, checked := attrs["checked"]
		if attrs["type"] == "hidden" || attrs["type"] == "checkbox" && checked {
			out.Add(attrs["name"], attrs["value"])
		}
	}
	return out
}

func TestReprocessWithoutJetStream(t *testing.T) {
	b := setup(t, setupOptions{noJS: true})
	failed := b.record(t, b.acme, wamedia.Image)
	require.NoError(t, b.store.Fail(b.ctx, failed, catalog.StatusFailed, "timeout"))
	c := b.client(t)
	csrf := c.login()
	require.Contains(t, c.get("/admin/").body, "Reprocessing is unavailable")
	resp := c.post(fmt.Sprintf("/admin/media/%d/reprocess", failed), url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	status, _ := b.status(t, failed)
	require.Equal(t, catalog.StatusFailed, status)
}
