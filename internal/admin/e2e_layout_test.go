package admin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// overflowJS reports a horizontal overflow of the page: "" when the page is
// no wider than the viewport, else the widths and the elements sticking out
// (elements inside a box that scrolls on its own do not widen the page).
const overflowJS = `(() => {
  const d = document.documentElement;
  if (d.scrollWidth <= d.clientWidth) return "";
  const out = [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > d.clientWidth + 1)
    .slice(0, 6)
    .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
      (typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\s+/).join(".") : "") +
      " right=" + Math.round(e.getBoundingClientRect().right));
  return "scrollWidth " + d.scrollWidth + " > clientWidth " + d.clientWidth + ": " + out.join(", ");
})()`

// TestE2ELayout opens every admin page in headless Chromium at a desktop
// width (1400 px) and a phone's (390 px), with real data (long captions,
// file names and ids, a stored file, dead letters, confirmations), and
// fails when a page is wider than the viewport: the media table becomes
// cards on a phone, the other tables scroll inside their own box.
func TestE2ELayout(t *testing.T) {
	b := setup(t)
	br := startBrowser(t, b)
	newest := seedDemo(t, b)
	// Text that does not wrap by itself.
	long := b.record(t, b.acme, wamedia.Document, func(m *catalog.Message) {
		m.Media[0].FileName = strings.Repeat("relatorio_trimestral_", 8) + ".pdf"
		m.Media[0].Caption = strings.Repeat("semespacos", 20)
		m.SenderName = strings.Repeat("Maria-Eduarda-", 6)
		m.ChatName = strings.Repeat("Grupo-de-vendas-", 5)
	})
	require.NoError(t, b.store.Fail(b.ctx, long, catalog.StatusFailed, "type_mismatch"))
	stored := b.record(t, b.globx, wamedia.Image)
	b.storeFile(t, stored, thumbnail(t, typeColours[wamedia.Image]), "image/jpeg", ".jpg")
	// A dead letter of each stream.
	subj, err := bus.WebhookSubject("GONE-" + strings.Repeat("X", 40))
	require.NoError(t, err)
	_, err = b.js.Publish(b.ctx, subj, []byte(`{"event":"webhookReceived"}`))
	require.NoError(t, err)
	b.park(t, bus.StreamWebhooks, bus.ConsumerAnalyzer, "unknown_instance")

	br.login(b, "/admin/")
	pages := []struct {
		name string
		open func()
	}{
		{"overview", func() { br.navigate("overview", chromedp.Navigate(b.srv.URL+"/admin/")) }},
		{"list", func() { br.navigate("list", chromedp.Navigate(b.srv.URL+"/admin/media")) }},
		{"list-failed", func() { br.navigate("list", chromedp.Navigate(b.srv.URL+"/admin/media?status=failed")) }},
		{"detail-failed", func() { br.navigate("detail", chromedp.Navigate(fmt.Sprintf("%s/admin/media/%d", b.srv.URL, newest))) }},
		{"detail-long", func() { br.navigate("detail", chromedp.Navigate(fmt.Sprintf("%s/admin/media/%d", b.srv.URL, long))) }},
		{"detail-stored", func() { br.navigate("detail", chromedp.Navigate(fmt.Sprintf("%s/admin/media/%d", b.srv.URL, stored))) }},
		{"deadletters", func() { br.navigate("dead letters", chromedp.Navigate(b.srv.URL+"/admin/deadletters")) }},
		{"deadletters-confirm", func() {
			br.navigate("dead letters", chromedp.Navigate(b.srv.URL+"/admin/deadletters"))
			br.navigate("replay all", chromedp.Click(chromedp.CSS("#replay-all button")))
			br.do("the confirmation", chromedp.WaitVisible(chromedp.ID("confirm-replay")))
		}},
		{"reprocess-confirm", func() {
			br.navigate("overview", chromedp.Navigate(b.srv.URL+"/admin/"))
			br.navigate("reprocess", chromedp.Click(chromedp.CSS("#reprocess-many button")))
			br.do("the confirmation", chromedp.WaitVisible(chromedp.ID("confirm-reprocess")))
		}},
	}
	for _, width := range []int64{1400, 390} {
		br.do("resizing", chromedp.EmulateViewport(width, 900))
		for _, p := range pages {
			p.open()
			overflow, err := chromedp.Run(br.ctx, chromedp.Evaluate[string](overflowJS))
			require.NoError(t, err)
			shot := br.shoot(fmt.Sprintf("admin-%d-%s.png", width, p.name))
			assert.Empty(t, overflow, "%s at %d px overflows horizontally (see %s)", p.name, width, shot)
		}
	}
	// At 390 px the media list is cards: the status is on screen.
	br.navigate("list", chromedp.Navigate(b.srv.URL+"/admin/media"))
	visible, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool](
		`[...document.querySelectorAll("#media tbody .badge[class*=st-]")].every(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right <= document.documentElement.clientWidth; })`))
	require.NoError(t, err)
	require.True(t, visible, "every status badge is within the viewport")

	// The stored image opens in the browser as an image (the sandboxing
	// CSP lets the browser show it), from the detail page's link.
	br.navigate("detail", chromedp.Navigate(fmt.Sprintf("%s/admin/media/%d", b.srv.URL, stored)))
	br.navigate("opening the file", chromedp.Click(chromedp.ID("open-file")))
	require.Equal(t, fmt.Sprintf("%s/admin/media/%d/file", b.srv.URL, stored), br.location())
	shown, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](
		`document.images.length === 1 && document.images[0].complete ? document.images[0].naturalWidth : -1`))
	require.NoError(t, err)
	require.Equal(t, 64, shown, "the 64 px wide JPEG is shown")

	// Logged out, the login form fits too.
	br.navigate("back", chromedp.Navigate(b.srv.URL+"/admin/"))
	br.navigate("log out", chromedp.Click(chromedp.CSS(".logout button")))
	overflow, err := chromedp.Run(br.ctx, chromedp.Evaluate[string](overflowJS))
	require.NoError(t, err)
	require.Empty(t, overflow, "login at 390 px")
}
