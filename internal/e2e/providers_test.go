package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestRunTakesEveryProvider posts each provider's webhooks, in the shape
// that provider sends them, to `run`: for each, a real media item (WhatsApp's
// encrypted blob for Evolution API, the provider's plain file for WAHA, Z-API
// and Meta) ends as a success row whose file is the original, and a tampered
// one as failed with its reason: an executable sent as a PDF (type_mismatch)
// whatever the provider, and for Meta, which gives the file's sha256, a file
// whose bytes change on the way every time (plain_hash_mismatch, once its
// retries are spent). The Meta delivery
// carries both of its messages at once, as Meta batches them. Webhooks are
// authenticated as each provider can: the header token, and Meta's
// X-Hub-Signature-256.
func TestRunTakesEveryProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const key, appSecret = "provider-api-key", "meta-app-secret"
	instances := map[wasim.Provider]catalog.Instance{
		wasim.ProviderEvolution: {ID: "evo-padaria", Provider: webhook.Evolution, Credentials: catalog.Credentials{BaseURL: e.sim.EvolutionBaseURL(), APIKey: key}},
		wasim.ProviderWAHA:      {ID: "waha-clinica", Provider: webhook.WAHA, Credentials: catalog.Credentials{BaseURL: e.sim.WAHABaseURL(), APIKey: key}},
		wasim.ProviderZAPI:      {ID: "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2", Provider: webhook.ZAPI},
		wasim.ProviderMeta: {ID: "106540352242922", Provider: webhook.Meta,
			Credentials: catalog.Credentials{APIKey: key, AppSecret: appSecret, VerifyToken: "verify-me"}},
	}
	secrets := map[wasim.Provider]string{}
	for p, in := range instances {
		res, err := operator.New(e.store).RegisterInstance(ctx, "Cliente "+string(p), in)
		require.NoError(t, err)
		secrets[p] = res.WebhookSecret
		e.sim.AddInstance(in.ID, key)
	}
	// A plain file whose hash does not match is retried (its transfer may
	// be at fault) a bounded number of times: quickly here.
	e.vars["DOWNLOAD_BACKOFF_MAX"] = "500ms"
	run := e.start("run")
	post := func(p wasim.Provider, body []byte) {
		req, err := http.NewRequest(http.MethodPost, "http://"+run.Addr+"/webhooks/"+string(p), bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Token", secrets[p])
		if p == wasim.ProviderMeta {
			mac := hmac.New(sha256.New, []byte(appSecret))
			mac.Write(body)
			req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s webhook", p)
	}
	add := func(name string, opts ...wasim.ItemOption) *wasim.Item {
		it, err := e.sim.AddSample(samples.ByName(name), opts...)
		require.NoError(t, err)
		return it
	}
	type want struct {
		item              *wasim.Item
		status, integrity string
	}
	cases := map[wasim.Provider]map[string]want{}
	for _, p := range []wasim.Provider{wasim.ProviderEvolution, wasim.ProviderWAHA, wasim.ProviderZAPI, wasim.ProviderMeta} {
		inst := instances[p].ID
		integrity := map[wasim.Provider]string{wasim.ProviderEvolution: "sha256+hmac", wasim.ProviderMeta: "sha256"}[p]
		if integrity == "" {
			integrity = "content_only"
		}
		good, hostile := add(samples.VideoMP4), add(samples.HostileELFAsPDF)
		goodID, hostileID := proctest.NewMessageID(), proctest.NewMessageID()
		cases[p] = map[string]want{goodID: {good, "success", integrity}, hostileID: {hostile, "failed/type_mismatch", integrity}}
		if p == wasim.ProviderMeta {
			corrupt := add(samples.AudioVoice, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultCorrupt}))
			corruptID := proctest.NewMessageID()
			cases[p][corruptID] = want{corrupt, "failed/plain_hash_mismatch", integrity}
			post(p, e.sim.MetaDelivery(
				wasim.WebhookOptions{InstanceID: inst, MessageID: goodID, Media: good},
				wasim.WebhookOptions{InstanceID: inst, MessageID: hostileID, Media: hostile},
				wasim.WebhookOptions{InstanceID: inst, MessageID: corruptID, Media: corrupt}))
			continue
		}
		post(p, e.sim.ProviderWebhook(p, wasim.WebhookOptions{InstanceID: inst, MessageID: goodID, Media: good, Encoding: wasim.EvoIndexed}))
		post(p, e.sim.ProviderWebhook(p, wasim.WebhookOptions{InstanceID: inst, MessageID: hostileID, Media: hostile}))
	}

	type got struct{ status, integrity, path string }
	final := func() map[string]got {
		out := map[string]got{}
		rows, err := pgtest.DB(t, e.store).Query(ctx, `
			SELECT instance_id || ' ' || message_id, download_status || COALESCE('/' || failure_reason, ''), integrity, COALESCE(file_path, '')
			FROM media_files WHERE download_status NOT IN ('pending', 'downloading')`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var k string
			var g got
			require.NoError(t, rows.Scan(&k, &g.status, &g.integrity, &g.path))
			out[k] = g
		}
		return out
	}
	proctest.Poll(t, 90*time.Second, "every provider's items final", func() bool { return len(final()) == 9 })
	rows := final()
	for p, byID := range cases {
		for id, w := range byID {
			// WAHA's and Z-API's ids are their own spelling of the message.
			var g got
			var found bool
			for k, r := range rows {
				if strings.HasPrefix(k, instances[p].ID+" ") && strings.Contains(k, id) {
					g, found = r, true
				}
			}
			require.True(t, found, "%s %s recorded", p, id)
			require.Equal(t, w.status, g.status, "%s %s (%s)", p, id, w.item.Sample.Name)
			require.Equal(t, w.integrity, g.integrity, "%s %s", p, id)
			if w.status != "success" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(e.media, filepath.FromSlash(g.path)))
			require.NoError(t, err)
			sum := sha256.Sum256(data)
			require.Equal(t, hex.EncodeToString(w.item.FileSHA256), hex.EncodeToString(sum[:]), "%s: the stored file is the original", p)
		}
	}

	// The API shows each item's provider and integrity; stats count them.
	code, out := e.run("stats", "--json")
	require.Zero(t, code, out)
	for _, p := range []string{"evolution", "waha", "zapi", "meta"} {
		require.Contains(t, out, `"`+p+`"`, "stats by provider")
	}
	require.Contains(t, out, `"content_only"`, "stats by integrity")
}
