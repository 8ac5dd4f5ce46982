package wapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// mediaValue returns the JSON value of key in a sample's msgContent, as a
// user would cut it out of a webhook for `decrypt --descriptor`.
func mediaValue(t *testing.T, sample, key string) []byte {
	t.Helper()
	var hook struct{ MsgContent map[string]json.RawMessage }
	if err := json.Unmarshal(readSample(t, sample), &hook); err != nil {
		t.Fatal(err)
	}
	v, ok := hook.MsgContent[key]
	if !ok {
		t.Fatalf("%s has no msgContent.%s", sample, key)
	}
	return v
}

func TestParseMediaObject(t *testing.T) {
	audio := mediaValue(t, "audio_ptt.json", "audioMessage")
	ptv := mediaValue(t, "ptv.json", "ptvMessage")
	sticker := mediaValue(t, "sticker.json", "stickerMessage")
	viewOnce := mediaValue(t, "viewonce_image.json", "viewOnceMessageV2")
	tests := []struct {
		name string
		kind string
		data []byte
		want item
	}{
		{"bare object, message key", "audioMessage", audio, item{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 7104}},
		{"bare object, media type", "audio", audio, item{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 7104}},
		{"bare object, ptt alias", "PTT", audio, item{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 7104}},
		{"bare round video", "ptv", ptv, item{Type: wamedia.Video, Kind: "ptvMessage", Downloadable: true, Mimetype: "video/mp4", FileLength: 912344}},
		{"bare sticker", "sticker", sticker, item{Type: wamedia.Sticker, Kind: "stickerMessage", Downloadable: true, Animated: true, Mimetype: "image/webp", FileLength: 21504}},
		{"keyed, inferred", "", []byte(`{"audioMessage":` + string(audio) + `}`), item{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 7104}},
		{"keyed, kind agrees", "audioMessage", []byte(`{"audioMessage":` + string(audio) + `}`), item{Type: wamedia.Audio, Kind: "audioMessage", Downloadable: true, PTT: true, Mimetype: "audio/ogg; codecs=opus", FileLength: 7104}},
		{"keyed ptv, kind video", "video", []byte(`{"ptvMessage":` + string(ptv) + `}`), item{Type: wamedia.Video, Kind: "ptvMessage", Downloadable: true, Mimetype: "video/mp4", FileLength: 912344}},
		{"wrapped, inferred", "", []byte(`{"viewOnceMessageV2":` + string(viewOnce) + `}`), item{Type: wamedia.Image, Kind: "imageMessage", Downloadable: true, ViewOnce: true, Mimetype: "image/jpeg", FileLength: 48213}},
		{"a whole webhook", "", readSample(t, "document_caption.json"), item{Type: wamedia.Document, Kind: "documentMessage", Downloadable: true, Mimetype: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", FileLength: 22871, FileName: "Planilha de precos.xlsx", Caption: "Precos atualizados"}},
		{"incomplete object", "image", []byte(`{"mimetype":"image/jpeg","directPath":"/v/x","fileSha256":"` + hash32 + `","fileEncSha256":"` + hash32 + `"}`), item{Type: wamedia.Image, Kind: "imageMessage", Mimetype: "image/jpeg", Problem: "mediaKey missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMediaObject(tt.kind, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(*m); got != tt.want {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
			if m.Class != wamedia.ClassOf(m.Type) || m.Problems == nil {
				t.Errorf("Class %q Problems %v: not checked", m.Class, m.Problems)
			}
		})
	}

	// A bare object without a kind: everything but the type, which the caller
	// supplies (as `decrypt --descriptor FILE --type audio` does).
	m0, err := ParseMediaObject("", audio)
	if err != nil {
		t.Fatal(err)
	}
	if m0.Type != "" || m0.Class != "" || m0.Downloadable || len(m0.MediaKey) != 32 || !m0.PTT ||
		strings.Join(m0.Problems, "; ") != `media type "" unknown` {
		t.Errorf("bare object without kind: Type %q Class %q Downloadable %v Problems %q", m0.Type, m0.Class, m0.Downloadable, m0.Problems)
	}
	m0.Type, m0.Class = wamedia.Audio, wamedia.ClassAudio
	if m0.Check(); !m0.Downloadable {
		t.Errorf("after setting the type: %q", m0.Problems)
	}

	// The same bytes as Decode extracts from the webhook.
	m, err := ParseMediaObject("audioMessage", audio)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := Decode(readSample(t, "audio_ptt.json"))
	d := ev.Media[0]
	if !bytes.Equal(m.MediaKey, d.MediaKey) || !bytes.Equal(m.FileSHA256, d.FileSHA256) || !bytes.Equal(m.FileEncSHA256, d.FileEncSHA256) ||
		m.DirectPath != d.DirectPath || m.URL != d.URL || m.MediaKeyTimestamp != d.MediaKeyTimestamp {
		t.Error("ParseMediaObject and Decode disagree on the same media object")
	}
}

func TestParseMediaObjectErrors(t *testing.T) {
	audio := string(mediaValue(t, "audio_ptt.json", "audioMessage"))
	tests := []struct {
		name, kind, data, err string
	}{
		{"not JSON", "image", `{"url":`, "invalid webhook JSON"},
		{"not an object", "image", `["x"]`, "want a JSON object"},
		{"unknown kind", "pollMessage", audio, `unknown media kind "pollMessage"`},
		{"no media", "", `{"conversation":"hi"}`, "no media object found"},
		{"no media fields", "", `{"mimetype":"image/jpeg","caption":"x"}`, "no media object found"},
		{"quoted media only", "", `{"extendedTextMessage":{"contextInfo":{"quotedMessage":{"audioMessage":` + audio + `}}}}`, "no media object found"},
		{"two items", "", `{"audioMessage":` + audio + `,"imageMessage":{}}`, "found 2 media items"},
		{"kind disagrees", "image", `{"audioMessage":` + audio + `}`, "is a audio (audioMessage), not a image"},
	}
	for _, tt := range tests {
		m, err := ParseMediaObject(tt.kind, []byte(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, %v; want an error saying %q", tt.name, m, err, tt.err)
		}
	}
}
