package wasim

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/samples"
)

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return m
}

// dig walks nested objects by key.
func dig(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		v, ok := m[k].(map[string]any)
		require.True(t, ok, "no object at %q in %v", k, m)
		m = v
	}
	return m
}

func TestMediaWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, smp := range samples.All() {
		it, err := b.srv.AddSample(smp)
		require.NoError(t, err)
		ev := decode(t, Webhook(EventReceived, WebhookOptions{Media: it, MessageID: "3EB0AAAA"}))
		require.Equal(t, "webhookReceived", ev["event"])
		require.Equal(t, InstancePro, ev["instanceId"])
		require.Equal(t, "3EB0AAAA", ev["messageId"])
		require.Equal(t, false, ev["fromMe"])
		require.Less(t, ev["moment"].(float64), 1e12, "seconds on message events")
		mo := dig(t, ev, "msgContent", smp.Kind)
		for _, k := range []string{"url", "mimetype", "fileSha256", "fileLength", "mediaKey", "fileEncSha256", "directPath", "mediaKeyTimestamp"} {
			require.Contains(t, mo, k, smp.Name)
		}
		require.IsType(t, "", mo["fileLength"])
		require.IsType(t, "", mo["mediaKeyTimestamp"])
		require.Equal(t, it.DirectPath, mo["directPath"])
		require.Contains(t, dig(t, ev, "msgContent"), "messageContextInfo")
		switch smp.Kind {
		case "audioMessage":
			require.Equal(t, smp.PTT, mo["ptt"])
			require.Contains(t, mo, "seconds")
		case "stickerMessage":
			require.Equal(t, smp.Animated, mo["isAnimated"])
		case "documentMessage":
			require.Equal(t, smp.FileName, mo["fileName"])
		case "videoMessage", "ptvMessage":
			require.EqualValues(t, smp.Seconds, mo["seconds"])
		}
	}
}

func TestWrappedAndQuotedMedia(t *testing.T) {
	t.Parallel()
	b := setup(t)
	doc := b.add(t, samples.DocumentPDF)
	img := b.add(t, samples.ImageJPEG)

	ev := decode(t, Webhook(EventReceived, WebhookOptions{Media: doc, Wrappers: []string{WrapDocumentWithCaption}, Text: "see attached"}))
	mo := dig(t, ev, "msgContent", "documentWithCaptionMessage", "message", "documentMessage")
	require.Equal(t, "see attached", mo["caption"])

	ev = decode(t, Webhook(EventReceived, WebhookOptions{Media: img, Wrappers: []string{WrapEphemeral, WrapViewOnceV2}}))
	mo = dig(t, ev, "msgContent", "ephemeralMessage", "message", "viewOnceMessageV2", "message", "imageMessage")
	require.Equal(t, true, mo["viewOnce"])
	require.EqualValues(t, 604800, dig(t, mo, "contextInfo")["expiration"])

	ev = decode(t, Webhook(EventReceived, WebhookOptions{Media: img, Content: ContentReply, TargetID: "ABC", InstanceID: InstanceLite}))
	ci := dig(t, ev, "msgContent", "extendedTextMessage", "contextInfo")
	require.Equal(t, "ABC", ci["stanzaID"], "LITE instances spell it stanzaID")
	require.Contains(t, dig(t, ci, "quotedMessage"), "imageMessage")
	require.NotContains(t, dig(t, ev, "msgContent"), "imageMessage")
	require.Contains(t, ev, "senderLid")

	ev = decode(t, Webhook(EventDelivery, WebhookOptions{Media: img, Group: true, FromAPI: true, Forwarded: true,
		Omit: []string{"fileEncSha256"}, NumericFields: true}))
	require.Equal(t, true, ev["fromMe"])
	require.Equal(t, true, ev["fromApi"])
	require.Equal(t, true, ev["isGroup"])
	require.Regexp(t, `@g\.us$`, dig(t, ev, "chat")["id"])
	require.Contains(t, dig(t, ev, "msgContent"), "senderKeyDistributionMessage")
	mo = dig(t, ev, "msgContent", "imageMessage")
	require.NotContains(t, mo, "fileEncSha256")
	require.IsType(t, float64(0), mo["fileLength"])
	require.Equal(t, true, dig(t, mo, "contextInfo")["isForwarded"])
}

func TestOtherEvents(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	at := time.Unix(1749929175, 398e6)

	ev := decode(t, Webhook(EventStatus, WebhookOptions{TargetID: "60614A30", Moment: at, Rand: r}))
	require.Equal(t, "READ", ev["status"])
	require.Equal(t, "60614A30", ev["messageId"])
	require.EqualValues(t, 1749929175398, ev["moment"], "milliseconds on status events")
	require.NotContains(t, ev, "msgContent")

	ev = decode(t, Webhook(EventConnected, WebhookOptions{InstanceID: InstanceLite, Rand: r}))
	require.Equal(t, true, ev["connected"])
	ev = decode(t, Webhook(EventDisconnected, WebhookOptions{InstanceID: InstanceLite, Rand: r}))
	require.Equal(t, true, ev["disconnected"])
	ev = decode(t, Webhook(EventPresence, WebhookOptions{Rand: r}))
	require.Equal(t, "webhookPresence", ev["event"])

	ev = decode(t, Webhook(EventReceived, WebhookOptions{Content: ContentReaction, TargetID: "T1", Rand: r}))
	require.Equal(t, "T1", dig(t, ev, "msgContent", "reactionMessage", "key")["id"])
	ev = decode(t, Webhook(EventReceived, WebhookOptions{Content: ContentRevoke, TargetID: "T1", Rand: r}))
	require.Equal(t, "REVOKE", dig(t, ev, "msgContent", "protocolMessage")["type"])
	ev = decode(t, Webhook(EventReceived, WebhookOptions{Content: ContentEdit, TargetID: "T1", Rand: r}))
	require.EqualValues(t, 14, dig(t, ev, "msgContent", "protocolMessage")["type"])
	ev = decode(t, Webhook(EventReceived, WebhookOptions{Content: ContentText, Text: "oi", Rand: r}))
	require.Equal(t, "oi", dig(t, ev, "msgContent")["conversation"])
	ev = decode(t, Webhook(EventReceived, WebhookOptions{Content: ContentCiphertext, Rand: r}))
	require.Equal(t, "CIPHERTEXT", dig(t, ev, "msgContent")["messageStubType"])
}

func TestMix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, smp := range samples.All() {
		_, err := b.srv.AddSample(smp)
		require.NoError(t, err)
	}
	items := b.srv.Items()
	hooks := b.srv.Mix(MixOptions{N: 400, Seed: 7, DuplicateRate: 0.05})
	require.Len(t, hooks, 400)

	carried := map[*Item]int{}
	events := map[EventKind]int{}
	contents := map[Content]int{}
	dups, first := 0, 0
	for _, h := range hooks {
		ev := decode(t, h.Body)
		require.Equal(t, string(h.Event), ev["event"])
		require.Equal(t, h.InstanceID, ev["instanceId"])
		events[h.Event]++
		contents[h.Content]++
		if h.Duplicate {
			dups++
			continue
		}
		if h.Item != nil {
			carried[h.Item]++
		}
		if first < len(items) {
			require.Equal(t, items[first], h.Item, "every item first, a resend in between or not")
			first++
		}
	}
	for _, it := range items {
		require.Positive(t, carried[it], it.Sample.Name)
	}
	for _, k := range []EventKind{EventReceived, EventDelivery, EventStatus, EventConnected, EventDisconnected, EventPresence} {
		require.Positive(t, events[k], k)
	}
	for _, c := range []Content{ContentMedia, ContentReply, ContentText, ContentReaction, ContentRevoke, ContentEdit} {
		require.Positive(t, contents[c], c)
	}
	require.Positive(t, dups)

	again := Mix(MixOptions{N: 60, Seed: 7, DuplicateRate: 0.05, Items: items, Start: time.Unix(1, 0)})
	other := Mix(MixOptions{N: 60, Seed: 7, DuplicateRate: 0.05, Items: items, Start: time.Unix(1, 0)})
	require.Equal(t, again, other, "a seed makes the batch reproducible")
}

func TestWebhookJSONKeepsAmpersands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG)
	body := Webhook(EventReceived, WebhookOptions{Media: it})
	require.Contains(t, string(body), "&oh=")
	require.NotContains(t, string(body), `\u0026`)
	require.NotEqual(t, byte('\n'), body[len(body)-1])
}
