package e2e_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestRunTakesEvolutionMedia posts Evolution API webhooks, as Evolution
// sends them, to `run`: real encrypted media ends as a success row whose
// file is the original, an executable sent as a PDF as failed with its reason, and a
// WAHA webhook (not recorded yet) as a dead letter, not a silent drop.
func TestRunTakesEvolutionMedia(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const evo, waha, key = "evo-padaria", "waha-clinica", "provider-api-key"
	secrets := map[string]string{}
	for inst, in := range map[string]catalog.Instance{
		evo:  {ID: evo, Provider: webhook.Evolution, Credentials: catalog.Credentials{BaseURL: e.sim.EvolutionBaseURL(), APIKey: key}},
		waha: {ID: waha, Provider: webhook.WAHA, Credentials: catalog.Credentials{BaseURL: e.sim.WAHABaseURL(), APIKey: key}},
	} {
		res, err := operator.New(e.store).RegisterInstance(ctx, "Cliente 0", in)
		require.NoError(t, err)
		secrets[inst] = res.WebhookSecret
		e.sim.AddInstance(inst, key)
	}
	run := e.start("run")
	post := func(p wasim.Provider, inst string, body []byte) {
		req, err := http.NewRequest(http.MethodPost, "http://"+run.Addr+"/webhooks/"+string(p), bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Token", secrets[inst])
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
	good, hostile := add(samples.VideoMP4), add(samples.HostileELFAsPDF)
	goodID, hostileID := proctest.NewMessageID(), proctest.NewMessageID()
	post(wasim.ProviderEvolution, evo, e.sim.ProviderWebhook(wasim.ProviderEvolution,
		wasim.WebhookOptions{InstanceID: evo, MessageID: goodID, Media: good, Encoding: wasim.EvoIndexed}))
	post(wasim.ProviderEvolution, evo, e.sim.ProviderWebhook(wasim.ProviderEvolution,
		wasim.WebhookOptions{InstanceID: evo, MessageID: hostileID, Media: hostile}))
	post(wasim.ProviderWAHA, waha, e.sim.ProviderWebhook(wasim.ProviderWAHA,
		wasim.WebhookOptions{InstanceID: waha, Media: add(samples.ImagePNG)}))

	proctest.Poll(t, 60*time.Second, "both Evolution items final", func() bool {
		rows := e.rows(evo, []string{goodID, hostileID})
		return len(rows) == 2 && rows[goodID].Status != "pending" && rows[hostileID].Status != "pending" &&
			rows[goodID].Status != "downloading" && rows[hostileID].Status != "downloading"
	})
	rows := e.rows(evo, []string{goodID, hostileID})
	require.Equal(t, "success", rows[goodID].Status, rows[goodID].Reason)
	require.Equal(t, good.FileLength, rows[goodID].Size)
	require.Equal(t, "failed/type_mismatch", rows[hostileID].Status+"/"+rows[hostileID].Reason, "an executable sent as a PDF")

	code, out := e.run("deadletter", "list", "--reason", "unsupported_provider")
	require.Zero(t, code, out)
	require.Contains(t, out, "unsupported_provider", "the WAHA webhook is kept to replay")
	require.Contains(t, out, waha, "the record names its instance")
}
