package admin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// chromiumPath is Debian's chromium (.ci/chromium installs it).
const chromiumPath = "/usr/bin/chromium"

// hostileCaption is a caption a webhook could carry: the browser must show
// it as text.
const hostileCaption = `<script>alert("owned")</script><img src=x onerror=alert(1)> sunset at the beach`

// seedDemo records a realistic spread of media over the last two weeks for
// both clientes and returns the newest image's id: a failed one, with a
// hostile caption.
func seedDemo(t *testing.T, b *testBundle) int64 {
	t.Helper()
	types := []wamedia.MediaType{wamedia.Image, wamedia.Video, wamedia.Image, wamedia.Audio, wamedia.Document,
		wamedia.Sticker, wamedia.Image, wamedia.Audio, wamedia.Video, wamedia.Image}
	failures := map[int]struct{ status, reason string }{
		3: {catalog.StatusFailed, "mac_mismatch"}, 8: {catalog.StatusExpired, "expired"},
		14: {catalog.StatusFailed, "timeout"}, 21: {catalog.StatusFailed, "http_error"},
		27: {catalog.StatusExpired, "expired"}, 33: {catalog.StatusFailed, "enc_hash_mismatch"},
	}
	const n = 40
	var ids []int64
	for i := range n {
		tn := b.acme
		if i%3 == 2 {
			tn = b.globx
		}
		typ := types[i%len(types)]
		id := b.record(t, tn, typ, func(m *catalog.Message) {
			m.SenderName = []string{"Maria", "João", "Ana Paula", "Carlos"}[i%4]
			m.ChatName = []string{"Família", "Vendas SP", "Suporte", "Pedro"}[i%4]
			if typ == wamedia.Image {
				m.Media[0].Caption = []string{"vitrine da loja", "nota fiscal", "foto do produto", ""}[i%4]
			}
		})
		ids = append(ids, id)
		switch f, ok := failures[i]; {
		case ok:
			require.NoError(t, b.store.Fail(b.ctx, id, f.status, f.reason))
		case i >= n-3:
			// the newest stay pending
		default:
			b.succeed(t, id)
		}
	}
	// The newest image: failed, with a hostile caption.
	newest := b.record(t, b.acme, wamedia.Image, func(m *catalog.Message) {
		m.Media[0].Caption = hostileCaption
		m.SenderName = "Eve"
	})
	require.NoError(t, b.store.Fail(b.ctx, newest, catalog.StatusFailed, "mac_mismatch"))
	// Spread over 14 days, older ids older.
	for rank, id := range ids {
		ago := time.Duration(n-rank) * 14 * 24 * time.Hour / n
		_, err := pgtest.DB(t, b.store).Exec(b.ctx, `UPDATE media_files SET created_at = now() - make_interval(secs => $2) WHERE id = $1`,
			id, ago.Seconds())
		require.NoError(t, err)
	}
	return newest
}

// browser is a headless Chromium on the admin page of a test bundle.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string // where screenshots go
}

// startBrowser starts headless Chromium for the test, or skips (fails under
// CI=true) when it is not installed.
func startBrowser(t *testing.T, b *testBundle) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser for the admin page's end-to-end test: %s is missing (run .ci/chromium)", chromiumPath)
		}
		t.Skipf("%s is missing: install Debian's chromium (.ci/chromium) to run the browser test", chromiumPath)
	}
	artifacts := os.Getenv("MEDIAPIPE_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(artifacts, 0o755))

	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	return &browser{t: t, ctx: bctx, artifacts: artifacts}
}

func (br *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	br.t.Helper()
	require.NoError(br.t, chromedp.Do(br.ctx, actions...), what)
}

// navigate runs an action that loads a new page and waits for its load.
func (br *browser) navigate(what string, trigger chromedp.Action[chromedp.Void]) {
	br.t.Helper()
	_, err := chromedp.Run(br.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, trigger))
	require.NoError(br.t, err, what)
}

func (br *browser) location() string {
	br.t.Helper()
	loc, err := chromedp.Run(br.ctx, chromedp.Location())
	require.NoError(br.t, err)
	return loc
}

func (br *browser) shoot(name string) string {
	br.t.Helper()
	png, err := chromedp.Run(br.ctx, chromedp.FullScreenshot(100))
	require.NoError(br.t, err, "screenshot")
	path := filepath.Join(br.artifacts, name)
	require.NoError(br.t, os.WriteFile(path, png, 0o644))
	br.t.Logf("screenshot: %s", path)
	return path
}

// login logs the browser in through the form, starting at path.
func (br *browser) login(b *testBundle, path string) {
	br.t.Helper()
	br.navigate("opening the admin page", chromedp.Navigate(b.srv.URL+path))
	require.Contains(br.t, br.location(), "/admin/login?next=")
	br.do("typing the token", chromedp.SendKeys(chromedp.ID("token"), adminToken))
	br.navigate("logging in", chromedp.Click(chromedp.ID("login")))
	require.Equal(br.t, b.srv.URL+path, br.location(), "back where we wanted to go")
}

// TestE2E drives the admin page in headless Chromium: log in, look at the
// charts, filter the list by type, open an item, reprocess it, and keep
// full-page screenshots (in MEDIAPIPE_ARTIFACTS, or a temporary directory).
func TestE2E(t *testing.T) {
	b := setup(t)
	br := startBrowser(t, b)
	newest := seedDemo(t, b)
	do, navigate, location, shoot := br.do, br.navigate, br.location, br.shoot
	bctx := br.ctx

	// Not logged in: the login form.
	br.login(b, "/admin/media")

	// The overview with its charts.
	navigate("opening the overview", chromedp.Click(chromedp.CSS(`header nav a[href="/admin/"]`)))
	do("waiting for the charts", chromedp.WaitVisible(chromedp.ID("chart-days")))
	total, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("total")))
	require.NoError(t, err)
	require.Equal(t, "41", total)
	shoot("admin-overview.png")

	// The list, filtered by type.
	navigate("opening the media list", chromedp.Click(chromedp.CSS(`header nav a[href="/admin/media"]`)))
	do("choosing a type", chromedp.SetValue(chromedp.ID("f-type"), "image"))
	navigate("filtering", chromedp.Click(chromedp.ID("apply")))
	require.Contains(t, location(), "type=image")
	types, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#media tbody tr')].map(tr => tr.dataset.type)`))
	require.NoError(t, err)
	require.Len(t, types, 17, "the 16 seeded images and the newest")
	require.Equal(t, []string{"image"}, slices.Compact(types))
	thumbs, err := chromedp.Run(bctx, chromedp.Evaluate[int](
		`[...document.querySelectorAll('#media td.thumb img')].filter(img => img.complete && img.naturalWidth > 0).length`))
	require.NoError(t, err)
	require.Equal(t, 17, thumbs, "every thumbnail loaded")
	shoot("admin-list.png")

	// The newest item: its hostile caption is text, and it can be reprocessed.
	navigate("opening a media item", chromedp.Click(chromedp.CSS(`#media a.open`)))
	require.Equal(t, fmt.Sprintf("%s/admin/media/%d", b.srv.URL, newest), location())
	caption, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.ID("caption")))
	require.NoError(t, err)
	require.Equal(t, hostileCaption, caption)
	scripts, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.scripts.length`))
	require.NoError(t, err)
	require.Zero(t, scripts)
	navigate("reprocessing", chromedp.Click(chromedp.CSS(`#reprocess button`)))
	require.Contains(t, location(), "msg=reprocessed")
	flash, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(".flash.ok")))
	require.NoError(t, err)
	require.Contains(t, flash, "queued a new download job")
	status, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("status")))
	require.NoError(t, err)
	require.Equal(t, "pending", strings.TrimSpace(status))
	st, _ := b.status(t, newest)
	require.Equal(t, catalog.StatusPending, st)
	jobs := b.jobs(t)
	require.Len(t, jobs, 1)
	require.Equal(t, newest, jobs[0].MediaID)
	shoot("admin-detail.png")
}
