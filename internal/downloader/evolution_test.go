package downloader_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/provider"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestEvolutionMedia: an Evolution API instance's media is WhatsApp's
// encrypted CDN blob, downloaded and verified as W-API's; when the CDN says
// it is gone, Evolution's getBase64FromMediaMessage (not W-API's
// download-media) hands over the plain file, checked against fileSha256. A
// tampered blob fails with its reason.
func TestEvolutionMedia(t *testing.T) {
	t.Parallel()
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	p := setupWithSim(t, sim, pipelineOptions{})
	ctx := context.Background()
	const inst, key = "evo-loja", "evo-api-key"
	sim.AddInstance(inst, key)
	_, err = operator.New(p.store).RegisterInstance(ctx, "Cliente de teste", catalog.Instance{ID: inst, Provider: webhook.Evolution,
		Credentials: catalog.Credentials{BaseURL: sim.EvolutionBaseURL(), APIKey: key}})
	require.NoError(t, err)

	add := func(name string, opts ...wasim.ItemOption) *wasim.Item {
		it, err := sim.AddSample(samples.ByName(name), opts...)
		require.NoError(t, err)
		return it
	}
	fresh := add(samples.ImageJPEG)
	gone := add(samples.DocumentPDF)
	require.NoError(t, gone.Expire(410))
	tampered := add(samples.AudioVoice, wasim.WithFaults(wasim.Fault{Kind: wasim.FaultCorrupt}))

	var msgs []catalog.Message
	ids := map[*wasim.Item]string{}
	for i, it := range []*wasim.Item{fresh, gone, tampered} {
		enc := []wasim.ByteEncoding{wasim.EvoBase64, wasim.EvoIndexed, wasim.EvoBuffer}[i]
		body := sim.ProviderWebhook(wasim.ProviderEvolution, wasim.WebhookOptions{InstanceID: inst, Media: it, Encoding: enc})
		events, err := provider.Decode(webhook.Evolution, body)
		require.NoError(t, err)
		require.Len(t, events, 1)
		ev := events[0]
		require.Len(t, ev.Media, 1)
		require.Equal(t, webhook.SourceCDN, ev.Media[0].Source)
		ids[it] = ev.MessageID
		msgs = append(msgs, catalog.MessageOf(&ev))
	}
	p.queue(msgs...)

	type result struct{ status, reason, path string }
	final := func() map[string]result {
		out := map[string]result{}
		rows, err := pgtest.DB(t, p.store).Query(ctx, `
			SELECT message_id, download_status, coalesce(failure_reason, ''), coalesce(file_path, '')
			FROM media_files WHERE instance_id = $1`, inst)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id string
			var r result
			require.NoError(t, rows.Scan(&id, &r.status, &r.reason, &r.path))
			if r.status != catalog.StatusPending && r.status != "downloading" {
				out[id] = r
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(final()) == 3 }, 60*time.Second, 20*time.Millisecond)
	got := final()
	for _, it := range []*wasim.Item{fresh, gone} {
		r := got[ids[it]]
		require.Equal(t, catalog.StatusSuccess, r.status, "%s: %s", it.Sample.Name, r.reason)
		data, err := os.ReadFile(filepath.Join(p.cfg.MediaDir, filepath.FromSlash(r.path)))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		require.Equal(t, hex.EncodeToString(it.FileSHA256), hex.EncodeToString(sum[:]), "the stored file is the original")
	}
	require.Positive(t, sim.Stats().ProviderServed, "the expired item came through getBase64FromMediaMessage")
	require.Zero(t, gone.WAPICalls(), "never W-API's download-media for an Evolution instance")
	require.Equal(t, catalog.StatusFailed, got[ids[tampered]].status)
	require.NotEmpty(t, got[ids[tampered]].reason)
}
