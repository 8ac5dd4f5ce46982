package chaos_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// TestForgedLocationsReachNothing: webhooks forged to make the downloader
// fetch from the private network (IP literals, a cloud metadata address, a
// user-info trick, an allowlisted name that resolves to loopback, a name off
// the allowlist, CDN redirects to a private address or to such a name) go
// through the real ingest, analyzer and downloader; each ends failed and no
// request reaches the trap server listening on 127.0.0.1. The fetcher's own
// tests cover each rule in isolation (internal/fetch: TestOpenRefusesBadLocations,
// TestDialHookRefusesNamesResolvingToLoopback, TestRedirects, TestPublicAddr).
func TestForgedLocationsReachNothing(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("internal secrets"))
	}))
	t.Cleanup(trap.Close)
	trapHost := strings.TrimPrefix(trap.URL, "http://")
	// localhost is on the allowlist here, as a misconfiguration might put a
	// name that resolves to a private address: the dial hook still refuses.
	p := newPipeline(t, map[string]string{"WHATSAPP_MEDIA_HOSTS": "mmg.whatsapp.net,*.whatsapp.net,localhost"})

	cases := map[string]string{ // name → the media object's url (no directPath)
		"IPv4 literal":         "https://" + trapHost + "/v/t62.7118-24/x.enc",
		"IPv4 literal, 443":    "https://127.0.0.1/v/t62.7118-24/x.enc",
		"plain http":           trap.URL + "/v/t62.7118-24/x.enc",
		"metadata address":     "http://169.254.169.254/latest/meta-data/iam/security-credentials/x",
		"IPv6 literal":         "https://[::1]/v/t62.7118-24/x.enc",
		"decimal IPv4":         "https://2130706433/v/t62.7118-24/x.enc",
		"user info":            "https://mmg.whatsapp.net@" + trapHost + "/v/t62.7118-24/x.enc",
		"allowlisted loopback": "https://localhost/v/t62.7118-24/x.enc",
		"off the allowlist":    "https://mmg.whatsapp.net.evil.example/v/t62.7118-24/x.enc",
	}
	var ids []string
	var n int
	for name, u := range cases {
		it, err := p.sim.AddSample(samples.ByName(samples.ImageJPEG))
		require.NoError(t, err)
		obj := it.MediaObject()
		delete(obj, "directPath")
		obj["url"] = u
		id := fmt.Sprintf("3EB0SSRF%04d", n)
		n++
		ids = append(ids, id)
		require.Equal(t, http.StatusAccepted, p.post(wasim.InstancePro, webhook(wasim.InstancePro, id, "imageMessage", obj)), name)
	}
	// Redirects from the (trusted) CDN to the private network.
	for _, loc := range []string{trap.URL + "/x", "https://" + trapHost + "/x", "https://localhost/x", "https://127.0.0.1/x"} {
		it, err := p.sim.AddSample(samples.ByName(samples.ImageJPEG),
			wasim.WithFaults(wasim.Fault{Kind: wasim.FaultRedirect, Location: loc}))
		require.NoError(t, err)
		id := fmt.Sprintf("3EB0SSRF%04d", n)
		n++
		ids = append(ids, id)
		require.Equal(t, http.StatusAccepted, p.post(wasim.InstancePro,
			wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{InstanceID: wasim.InstancePro, MessageID: id, Media: it})))
	}
	outcomes := map[string]int{}
	for id, r := range p.waitRows(wasim.InstancePro, ids) {
		require.Contains(t, []string{"failed", "expired"}, r.Status, "%s must not be stored", id)
		require.Empty(t, r.Path, id)
		outcomes[r.Status+"/"+r.Reason]++
	}
	t.Logf("%d forged locations: %v", len(ids), outcomes)
	require.Zero(t, hits.Load(), "no request reached the private network")
	require.Zero(t, p.sim.Stats().DownloadMedia, "a forged location is not an expired one: no W-API fallback")
	require.Contains(t, p.logs.String(), "non-public address", "the name resolving to loopback was refused at dial time")
}
