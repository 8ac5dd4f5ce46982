package downloader_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/provider"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestProviderFiles: WAHA's file (with the instance's X-Api-Key, from its
// own server), Z-API's (from its storage) and Meta's (a media id the Graph
// API resolves, fetched with the bearer token) are stored when they are
// what they claim, recorded with how they were verified; a tampered Meta
// file fails its sha256, an executable sent as a PDF fails its content
// check whatever the provider, and a file the provider no longer has is
// expired.
func TestProviderFiles(t *testing.T) {
	t.Parallel()
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	p := setupWithSim(t, sim, pipelineOptions{fetch: func(o *fetch.Options) {
		o.ZAPIStorageBase = sim.ZAPIStorageBaseURL()
		o.MetaGraphBase = sim.MetaGraphBaseURL()
		o.MetaGraphVersion = wasim.MetaGraphVersion
	}})
	ctx := context.Background()
	const key = "provider-key"
	instances := map[wasim.Provider]catalog.Instance{
		wasim.ProviderWAHA: {ID: "waha-clinica", Provider: webhook.WAHA, Credentials: catalog.Credentials{BaseURL: sim.WAHABaseURL(), APIKey: key}},
		wasim.ProviderZAPI: {ID: "3C01A9E5F1B2C3D4E5F6A7B8C9D0E1F2", Provider: webhook.ZAPI},
		wasim.ProviderMeta: {ID: "106540352242922", Provider: webhook.Meta, Credentials: catalog.Credentials{APIKey: key, VerifyToken: "v"}},
	}
	for _, in := range instances {
		sim.AddInstance(in.ID, key)
		_, err := operator.New(p.store).RegisterInstance(ctx, "Cliente de teste", in)
		require.NoError(t, err)
	}
	add := func(name string, opts ...wasim.ItemOption) *wasim.Item {
		it, err := sim.AddSample(samples.ByName(name), opts...)
		require.NoError(t, err)
		return it
	}
	type want struct{ status, reason, integrity string }
	cases := map[string]want{}
	var msgs []catalog.Message
	post := func(pr wasim.Provider, it *wasim.Item, w want) {
		in := instances[pr]
		body := sim.ProviderWebhook(pr, wasim.WebhookOptions{InstanceID: in.ID, Media: it})
		events, err := provider.Decode(in.Provider, body)
		require.NoError(t, err)
		for k := range events {
			if len(events[k].Media) > 0 {
				msgs = append(msgs, catalog.MessageOf(&events[k]))
				cases[in.ID+"/"+events[k].MessageID] = w
			}
		}
	}
	ok := func(integrity string) want { return want{catalog.StatusSuccess, "", integrity} }
	goods := map[string]*wasim.Item{}
	for _, pr := range []wasim.Provider{wasim.ProviderWAHA, wasim.ProviderZAPI, wasim.ProviderMeta} {
		integrity := "content_only"
		if pr == wasim.ProviderMeta {
			integrity = "sha256"
		}
		good := add(samples.VideoMP4)
		post(pr, good, ok(integrity))
		goods[string(pr)] = good
		post(pr, add(samples.HostileELFAsPDF), want{catalog.StatusFailed, "type_mismatch", integrity})
		post(pr, add(samples.ImagePNG, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultExpired, Status: 404})),
			want{"expired", "expired", integrity})
	}
	post(wasim.ProviderMeta, add(samples.AudioVoice, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultCorrupt})),
		want{catalog.StatusFailed, "plain_hash_mismatch", "sha256"})
	require.Len(t, msgs, 10)

	for _, r := range p.queue(msgs...) {
		require.Equal(t, catalog.StatusPending, r.Status)
	}

	type row struct {
		want
		path string
		sum  []byte
	}
	final := func() map[string]row {
		out := map[string]row{}
		rows, err := pgtest.DB(t, p.store).Query(ctx, `
			SELECT instance_id || '/' || message_id, download_status, coalesce(failure_reason, ''), integrity,
				coalesce(file_path, ''), file_sha256
			FROM media_files`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var k string
			var r row
			require.NoError(t, rows.Scan(&k, &r.status, &r.reason, &r.integrity, &r.path, &r.sum))
			if r.status != catalog.StatusPending && r.status != "downloading" {
				out[k] = r
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(final()) == len(cases) }, 90*time.Second, 50*time.Millisecond)
	for k, r := range final() {
		require.Equal(t, cases[k], r.want, k)
		if r.status != catalog.StatusSuccess {
			continue
		}
		data, err := os.ReadFile(filepath.Join(p.cfg.MediaDir, filepath.FromSlash(r.path)))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		require.Equal(t, sum[:], r.sum, "%s: the row's sha256 is the stored file's", k)
		require.Equal(t, goods["waha"].FileSHA256, sum[:], "%s: the stored file is the original", k)
	}
}
