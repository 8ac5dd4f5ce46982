package wapi

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeOK(t testing.TB, body string) *Event {
	t.Helper()
	ev, err := Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode(%.80q): %v", body, err)
	}
	return ev
}

// item summarises a descriptor for table tests.
type item struct {
	Type                       wamedia.MediaType
	Kind                       string
	Downloadable               bool
	PTT, GIF, Animated         bool
	ViewOnce, Ephemeral, Fwd   bool
	Mimetype                   string
	FileLength                 int64
	Caption, FileName, Problem string
}

func summarize(m wamedia.Descriptor) item {
	it := item{Type: m.Type, Kind: m.Kind, Downloadable: m.Downloadable, PTT: m.PTT, GIF: m.GIF,
		Animated: m.Animated, ViewOnce: m.ViewOnce, Ephemeral: m.Ephemeral, Fwd: m.Forwarded,
		Mimetype: m.Mimetype, FileLength: m.FileLength, Caption: m.Caption, FileName: m.FileName}
	it.Problem = strings.Join(m.Problems, "; ")
	return it
}

func TestDecodeSamples(t *testing.T) {
	const pro, lite, own = "3B6XIW-ZTS923-GEAY6V", "LITE-8NDQT1-UWX43P", "5511900000000@s.whatsapp.net"
	const maria = "5511911112222@s.whatsapp.net"
	t0 := time.Unix(1748896286, 0).UTC()
	tests := []struct {
		file      string
		kind      string
		instance  string
		chat      string
		sender    string
		group     bool
		fromMe    bool
		fromAPI   bool
		moment    time.Time
		content   string
		check     func(t *testing.T, ev *Event)
		media     []item
		noMessage bool
	}{
		{file: "received_text.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "conversation"},
		{file: "delivery_text.json", kind: KindDelivery, instance: pro, chat: maria, sender: own, fromMe: true, fromAPI: true, moment: t0, content: "extendedTextMessage"},
		{file: "status_read.json", kind: KindStatus, instance: pro, chat: maria, moment: time.UnixMilli(1749929175398).UTC(), noMessage: true,
			check: func(t *testing.T, ev *Event) {
				if ev.Status != "READ" || ev.MessageID != "60614A306737D9B7DFC5176AF80ABDF4" {
					t.Errorf("status %q id %q", ev.Status, ev.MessageID)
				}
			}},
		{file: "status_delivery.json", kind: KindStatus, instance: pro, chat: maria, fromMe: true, moment: time.Unix(1748896300, 0).UTC(), noMessage: true},
		{file: "connected.json", kind: KindConnected, instance: lite, moment: time.Unix(1785164800, 0).UTC(), noMessage: true},
		{file: "disconnected.json", kind: KindDisconnected, instance: lite, moment: time.Unix(1785164859, 0).UTC(), noMessage: true},
		{file: "presence.json", kind: "webhookPresence", instance: pro, chat: maria, moment: time.Unix(1748896280, 0).UTC(), noMessage: true},

		{file: "image.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "imageMessage",
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, Fwd: true, Mimetype: "image/jpeg", FileLength: 48213, Caption: "Segue a foto do pedido"}}},
		{file: "video.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "videoMessage",
			media: []item{{Type: wamedia.Video, Kind: "videoMessage", Downloadable: true, Mimetype: "video/mp4", FileLength: 2482015}}},
		{file: "ptv.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "ptvMessage",
			media: []item{{Type: wamedia.Video, Kind: "ptvMessage", Downloadable: true, Mimetype: "video/mp4", FileLength: 912344}}},
		{file: "audio_ptt.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "audioMessage",
			media: []item{{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 7104}}},
		{file: "audio_file.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "audioMessage",
			media: []item{{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, Mimetype: "audio/mpeg", FileLength: 3254112}}},
		{file: "document.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "documentMessage",
			media: []item{{Type: wamedia.Document, Kind: "documentMessage", Downloadable: true, Mimetype: "application/pdf", FileLength: 184422, FileName: "Orcamento 2025.pdf"}}},
		{file: "document_caption.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "documentMessage",
			check: func(t *testing.T, ev *Event) {
				if ev.QuotedID != "3EB0AEDB0BC91B72BF60" {
					t.Errorf("QuotedID %q", ev.QuotedID)
				}
			},
			media: []item{{Type: wamedia.Document, Kind: "documentMessage", Downloadable: true, Mimetype: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", FileLength: 22871, FileName: "Planilha de precos.xlsx", Caption: "Precos atualizados"}}},
		{file: "sticker.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "stickerMessage",
			media: []item{{Type: wamedia.Sticker, Kind: "stickerMessage", Downloadable: true, Animated: true, Mimetype: "image/webp", FileLength: 21504}}},
		{file: "lottie_sticker.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "stickerMessage",
			media: []item{{Type: wamedia.Sticker, Kind: "stickerMessage", Downloadable: true, Animated: true, Mimetype: "application/was", FileLength: 11911}}},
		{file: "group_image.json", kind: KindReceived, instance: pro, chat: "120363025246125486@g.us", sender: "5511933334444@s.whatsapp.net", group: true, moment: t0, content: "imageMessage",
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, Mimetype: "image/jpeg", FileLength: 48213}}},
		{file: "viewonce_image.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "imageMessage",
			check: func(t *testing.T, ev *Event) {
				if !ev.ViewOnce || ev.Ephemeral {
					t.Errorf("ViewOnce %v Ephemeral %v", ev.ViewOnce, ev.Ephemeral)
				}
			},
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, ViewOnce: true, Mimetype: "image/jpeg", FileLength: 48213}}},
		{file: "ephemeral_video.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "videoMessage",
			media: []item{{Type: wamedia.Video, Kind: "videoMessage", Downloadable: true, GIF: true, Ephemeral: true, Mimetype: "video/mp4", FileLength: 661240, Caption: "olha isso"}}},
		{file: "ephemeral_viewonce_audio.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "audioMessage",
			check: func(t *testing.T, ev *Event) {
				if !ev.ViewOnce || !ev.Ephemeral {
					t.Errorf("ViewOnce %v Ephemeral %v", ev.ViewOnce, ev.Ephemeral)
				}
			},
			media: []item{{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, ViewOnce: true, Ephemeral: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 15840}}},
		{file: "delivery_image.json", kind: KindDelivery, instance: pro, chat: maria, sender: own, fromMe: true, fromAPI: true, moment: t0, content: "imageMessage",
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, Mimetype: "image/jpeg", FileLength: 48213, Caption: "Seu boleto"}}},
		{file: "image_quoting_video.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "imageMessage",
			check: func(t *testing.T, ev *Event) {
				if ev.QuotedID != "3EB0A188372740127EA6" {
					t.Errorf("QuotedID %q (stanzaID)", ev.QuotedID)
				}
			},
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, Mimetype: "image/jpeg", FileLength: 48213, Caption: "essa aqui"}}},
		{file: "reply_quoting_image.json", kind: KindDelivery, instance: pro, chat: maria, sender: own, fromMe: true, moment: t0, content: "extendedTextMessage",
			check: func(t *testing.T, ev *Event) {
				if ev.QuotedID != "3EB051D14A3948E24336" {
					t.Errorf("QuotedID %q", ev.QuotedID)
				}
			}},
		{file: "revoke.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "protocolMessage",
			check: func(t *testing.T, ev *Event) {
				if !ev.Revoke || ev.Edit || ev.TargetID != "3EB04BB47F186DF233E4" {
					t.Errorf("Revoke %v Edit %v TargetID %q", ev.Revoke, ev.Edit, ev.TargetID)
				}
			}},
		{file: "edit.json", kind: KindDelivery, instance: pro, chat: maria, sender: own, fromMe: true, moment: t0, content: "editedMessage",
			check: func(t *testing.T, ev *Event) {
				if !ev.Edit || ev.Revoke || ev.TargetID != "3EB01FB9F4097256DB2D" {
					t.Errorf("Edit %v Revoke %v TargetID %q", ev.Edit, ev.Revoke, ev.TargetID)
				}
			}},
		{file: "reaction.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "reactionMessage",
			check: func(t *testing.T, ev *Event) {
				if ev.Reaction != "❤️" || ev.TargetID != "3EB066B23A169A193ABD" {
					t.Errorf("Reaction %q TargetID %q", ev.Reaction, ev.TargetID)
				}
			}},
		{file: "newsletter_image.json", kind: KindReceived, instance: pro, chat: "120363198765432109@newsletter", sender: "120363198765432109@newsletter", moment: t0, content: "imageMessage",
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, Mimetype: "image/jpeg", FileLength: 48213, Caption: "Novidades da semana"}}},
		{file: "missing_fields_image.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "imageMessage",
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Mimetype: "image/jpeg", FileLength: 48213, Problem: "mediaKey missing"}}},
		{file: "status_story_image.json", kind: KindReceived, instance: pro, chat: "status@broadcast", sender: "5511955556666@s.whatsapp.net", moment: t0, content: "imageMessage",
			media: []item{{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, Mimetype: "image/jpeg", FileLength: 48213, Caption: "promo!"}}},
		{file: "lite_lid_audio.json", kind: KindReceived, instance: lite, chat: "123456789012345@lid", sender: "123456789012345@lid", moment: t0, content: "audioMessage",
			check: func(t *testing.T, ev *Event) {
				if ev.Sender.LID != "123456789012345@lid" || ev.ConnectedLID != "987654321098765@lid" {
					t.Errorf("Sender.LID %q ConnectedLID %q", ev.Sender.LID, ev.ConnectedLID)
				}
			},
			media: []item{{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 30712}}},
		{file: "ciphertext.json", kind: KindReceived, instance: pro, chat: maria, sender: maria, moment: t0, content: "messageStubType",
			check: func(t *testing.T, ev *Event) {
				if ev.Stub != "CIPHERTEXT" {
					t.Errorf("Stub %q", ev.Stub)
				}
			}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			ev, err := Decode(readSample(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.kind || ev.InstanceID != tt.instance {
				t.Errorf("Kind %q InstanceID %q, want %q %q", ev.Kind, ev.InstanceID, tt.kind, tt.instance)
			}
			if ev.Chat.JID != tt.chat || ev.Sender.JID != tt.sender {
				t.Errorf("chat %q sender %q, want %q %q", ev.Chat.JID, ev.Sender.JID, tt.chat, tt.sender)
			}
			if ev.IsGroup != tt.group || ev.FromMe != tt.fromMe || ev.FromAPI != tt.fromAPI {
				t.Errorf("IsGroup %v FromMe %v FromAPI %v, want %v %v %v", ev.IsGroup, ev.FromMe, ev.FromAPI, tt.group, tt.fromMe, tt.fromAPI)
			}
			if !ev.Moment.Equal(tt.moment) {
				t.Errorf("Moment %v, want %v", ev.Moment, tt.moment)
			}
			if ev.Content != tt.content {
				t.Errorf("Content %q, want %q", ev.Content, tt.content)
			}
			if ev.IsMessage() == tt.noMessage {
				t.Errorf("IsMessage %v", ev.IsMessage())
			}
			if len(ev.Media) != len(tt.media) {
				t.Fatalf("%d media items, want %d: %+v", len(ev.Media), len(tt.media), ev.Media)
			}
			for i, m := range ev.Media {
				if got := summarize(m); got != tt.media[i] {
					t.Errorf("media %d:\n got %+v\nwant %+v", i, got, tt.media[i])
				}
				if m.Class != wamedia.ClassOf(m.Type) {
					t.Errorf("media %d: Class %q for %s", i, m.Class, m.Type)
				}
				if m.Encrypted() && (len(m.MediaKey) != 32 && m.Downloadable) {
					t.Errorf("media %d: mediaKey %d bytes", i, len(m.MediaKey))
				}
				if m.MediaKeyTimestamp != 1749253008 {
					t.Errorf("media %d: MediaKeyTimestamp %d", i, m.MediaKeyTimestamp)
				}
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
	// Every sample is covered, so the simulator and e2e tests can rely on them.
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("sample %s has no row in TestDecodeSamples", f)
		}
	}
}

func TestDecodeMediaFields(t *testing.T) {
	ev, err := Decode(readSample(t, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := ev.Media[0]
	if m.Width != 960 || m.Height != 1280 {
		t.Errorf("dimensions %dx%d", m.Width, m.Height)
	}
	if !strings.HasPrefix(m.URL, "https://mmg.whatsapp.net/v/t62.7118-24/") || !strings.HasPrefix(m.DirectPath, "/v/t62.7118-24/") {
		t.Errorf("URL %q DirectPath %q", m.URL, m.DirectPath)
	}
	if len(m.MediaKey) != 32 || len(m.FileSHA256) != 32 || len(m.FileEncSHA256) != 32 {
		t.Errorf("key/hash lengths %d %d %d", len(m.MediaKey), len(m.FileSHA256), len(m.FileEncSHA256))
	}
	if !bytes.HasPrefix(m.Thumbnail, []byte{0xff, 0xd8, 0xff}) {
		t.Errorf("Thumbnail % x", m.Thumbnail[:min(4, len(m.Thumbnail))])
	}
	// Slices handed out share a block but must not run into each other.
	m.MediaKey = append(m.MediaKey, 1)
	if ev.Media[0].FileSHA256[0] != m.FileSHA256[0] || len(ev.Media[0].FileSHA256) != 32 {
		t.Error("appending to MediaKey changed FileSHA256")
	}

	ev = decodeOK(t, string(readSample(t, "document.json")))
	if d := ev.Media[0]; d.Title != "Orcamento 2025" || d.PageCount != 3 {
		t.Errorf("Title %q PageCount %d", d.Title, d.PageCount)
	}
	ev = decodeOK(t, string(readSample(t, "video.json")))
	if v := ev.Media[0]; v.Seconds != 14 || v.Width != 480 || v.Height != 848 {
		t.Errorf("video %ds %dx%d", v.Seconds, v.Width, v.Height)
	}
}

func TestDecodeDoesNotAliasBody(t *testing.T) {
	body := readSample(t, "image.json")
	ev, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	before := *ev
	key := append([]byte(nil), ev.Media[0].MediaKey...)
	caption := strings.Clone(ev.Media[0].Caption)
	for i := range body {
		body[i] = 'x'
	}
	if ev.InstanceID != before.InstanceID || ev.Chat.JID != "5511911112222@s.whatsapp.net" ||
		ev.Media[0].Caption != caption || !bytes.Equal(ev.Media[0].MediaKey, key) {
		t.Error("the event changed when the body was overwritten")
	}
}
