package wasim

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/internal/samples"
)

const providerKey = "provider-secret-key"

// providerFetcher is the downloader's fetcher pointed at the simulator as
// each provider.
func (b *testBundle) providerFetcher(t *testing.T) *fetch.Fetcher {
	t.Helper()
	f, err := fetch.New(fetch.Options{CDNBase: b.srv.CDNBaseURL(), ZAPIStorageBase: b.srv.ZAPIStorageBaseURL(),
		MetaGraphBase: b.srv.MetaGraphBaseURL(), MetaGraphVersion: MetaGraphVersion})
	require.NoError(t, err)
	return f
}

func plainOf(t *testing.T, it *Item) []byte {
	t.Helper()
	f, err := it.OpenPlain()
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func read(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestProvidersServeTheirMediaToTheFetcher renders each provider's webhook
// and fetches its media the way the downloader does: the bytes are the
// original file, and a wrong credential is refused.
func TestProvidersServeTheirMediaToTheFetcher(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.providerFetcher(t)
	b.srv.AddInstance("waha-session", providerKey)
	b.srv.AddInstance("evo-instance", providerKey)
	b.srv.AddInstance("1065000001", providerKey)

	t.Run("waha", func(t *testing.T) {
		it := b.add(t, samples.ImageJPEG)
		ev := decode(t, b.srv.ProviderWebhook(ProviderWAHA, WebhookOptions{InstanceID: "waha-session", Media: it}))
		require.Equal(t, "message", ev["event"])
		require.Equal(t, "waha-session", ev["session"])
		media := ev["payload"].(map[string]any)["media"].(map[string]any)
		srv := fetch.Server{Base: b.srv.WAHABaseURL(), APIKey: providerKey}
		rc, _, err := f.WAHAOpen(ctx(t), srv, media["url"].(string), 0)
		require.Equal(t, plainOf(t, it), read(t, rc, err))
		_, _, err = f.WAHAOpen(ctx(t), fetch.Server{Base: srv.Base, APIKey: "wrong"}, media["url"].(string), 0)
		require.Error(t, err)
	})
	t.Run("zapi", func(t *testing.T) {
		it := b.add(t, samples.AudioVoice)
		ev := decode(t, b.srv.ProviderWebhook(ProviderZAPI, WebhookOptions{InstanceID: "A20D", Media: it}))
		require.Equal(t, "ReceivedCallback", ev["type"])
		require.NotNil(t, ev["momment"])
		audio := ev["audio"].(map[string]any)
		rc, _, err := f.ZAPIOpen(ctx(t), audio["audioUrl"].(string), 0)
		require.Equal(t, plainOf(t, it), read(t, rc, err))
	})
	t.Run("meta", func(t *testing.T) {
		img, doc := b.add(t, samples.ImagePNG), b.add(t, samples.DocumentPDF)
		body := b.srv.MetaDelivery(
			WebhookOptions{InstanceID: "1065000001", Media: img},
			WebhookOptions{InstanceID: "1065000002", Media: doc},
			WebhookOptions{InstanceID: "1065000001", Media: doc})
		var d struct {
			Entry []struct {
				Changes []struct {
					Value struct {
						Metadata struct {
							PhoneNumberID string `json:"phone_number_id"`
						} `json:"metadata"`
						Messages []map[string]any `json:"messages"`
					} `json:"value"`
				} `json:"changes"`
			} `json:"entry"`
		}
		require.NoError(t, json.Unmarshal(body, &d))
		require.Len(t, d.Entry, 2, "one entry per phone number id")
		v := d.Entry[0].Changes[0].Value
		require.Equal(t, "1065000001", v.Metadata.PhoneNumberID)
		require.Len(t, v.Messages, 2)
		image := v.Messages[0]["image"].(map[string]any)
		rc, m, _, err := f.MetaOpen(ctx(t), providerKey, image["id"].(string), 0)
		got := read(t, rc, err)
		require.Equal(t, plainOf(t, img), got)
		sum := sha256.Sum256(got)
		require.Equal(t, sum[:], m.SHA256)
		declared, err := fetch.DecodeSHA256(image["sha256"].(string))
		require.NoError(t, err)
		require.Equal(t, sum[:], declared)
		require.Equal(t, "document", v.Messages[1]["type"])

		_, _, _, err = f.MetaOpen(ctx(t), "wrong", image["id"].(string), 0)
		require.Error(t, err)
		_, _, _, err = f.MetaOpen(ctx(t), providerKey, "404404", 0)
		require.ErrorIs(t, err, fetch.ErrExpired)
	})
	t.Run("evolution", func(t *testing.T) {
		it := b.add(t, samples.ImageJPEG)
		ev := decode(t, b.srv.ProviderWebhook(ProviderEvolution, WebhookOptions{InstanceID: "evo-instance", MessageID: "3EB0AA", Media: it}))
		require.Equal(t, "messages.upsert", ev["event"])
		key := ev["data"].(map[string]any)["key"].(map[string]any)
		srv := fetch.Server{Base: b.srv.EvolutionBaseURL(), APIKey: providerKey}
		rc, _, err := f.EvolutionOpen(ctx(t), srv, "evo-instance", fetch.EvolutionKey{RemoteJID: key["remoteJid"].(string), ID: "3EB0AA"})
		require.Equal(t, plainOf(t, it), read(t, rc, err))
		_, _, err = f.EvolutionOpen(ctx(t), srv, "evo-instance", fetch.EvolutionKey{ID: "unknown"})
		require.ErrorIs(t, err, fetch.ErrFallbackFailed)
	})
	require.Positive(t, b.srv.Stats().ProviderUnauthorized)
	require.Positive(t, b.srv.Stats().ProviderServed)
}

// TestEvolutionEncodings checks the three spellings of bytes and longs.
func TestEvolutionEncodings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG)
	media := func(enc ByteEncoding) map[string]any {
		ev := decode(t, b.srv.ProviderWebhook(ProviderEvolution, WebhookOptions{InstanceID: "evo", Media: it, Encoding: enc}))
		return ev["data"].(map[string]any)["message"].(map[string]any)["imageMessage"].(map[string]any)
	}
	require.IsType(t, "", media(EvoBase64)["mediaKey"])
	require.IsType(t, "", media(EvoBase64)["fileLength"])

	idx := media(EvoIndexed)
	key := idx["mediaKey"].(map[string]any)
	require.Len(t, key, 32)
	got := make([]byte, 32)
	for i := range got {
		got[i] = byte(key[strconv.Itoa(i)].(float64))
	}
	require.Equal(t, it.MediaKey, got)
	long := idx["fileLength"].(map[string]any)
	require.Equal(t, float64(it.FileLength), long["low"])
	require.Equal(t, float64(0), long["high"])

	buf := media(EvoBuffer)["fileSha256"].(map[string]any)
	require.Equal(t, "Buffer", buf["type"])
	data := buf["data"].([]any)
	sum := make([]byte, len(data))
	for i, v := range data {
		sum[i] = byte(v.(float64))
	}
	require.Equal(t, it.FileSHA256, sum)
	require.Equal(t, float64(it.FileLength), media(EvoBuffer)["fileLength"])
}

// TestProviderFilesFollowFaults checks that the plain files honour the
// item's faults like the CDN does.
func TestProviderFilesFollowFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG)
	ev := decode(t, b.srv.ProviderWebhook(ProviderZAPI, WebhookOptions{InstanceID: "A20D", Media: it}))
	url := ev["image"].(map[string]any)["imageUrl"].(string)
	require.NoError(t, it.Expire(http.StatusNotFound))
	_, _, err := b.providerFetcher(t).ZAPIOpen(ctx(t), url, 0)
	require.ErrorIs(t, err, fetch.ErrExpired)
}
