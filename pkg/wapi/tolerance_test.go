package wapi

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Synthetic keys: 32 bytes each, in standard base64.
var (
	key32  = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	hash32 = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
)

// media returns a complete media object with extra fields appended.
func mediaJSON(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"url":"https://mmg.whatsapp.net/v/t62.7118-24/1_2_n.enc?ccb=11-4","mimetype":"image/jpeg","fileSha256":%q,"fileLength":"1234","mediaKey":%q,"fileEncSha256":%q,"directPath":"/v/t62.7118-24/1_2_n.enc?ccb=11-4","mediaKeyTimestamp":"1749253008"%s}`,
		hash32, key32, hash32, extra)
}

// hook returns a webhookReceived with msgContent content.
func hook(content string) string {
	return `{"event":"webhookReceived","instanceId":"3B6XIW-ZTS923-GEAY6V","messageId":"ID1","chat":{"id":"5511911112222"},"sender":{"id":"5511911112222","pushName":"Maria"},"moment":1748896286,"msgContent":` + content + `}`
}

func TestEveryMediaKind(t *testing.T) {
	tests := []struct {
		kind  string
		typ   wamedia.MediaType
		class wamedia.Class
	}{
		{"imageMessage", wamedia.Image, wamedia.ClassImage},
		{"videoMessage", wamedia.Video, wamedia.ClassVideo},
		{"ptvMessage", wamedia.Video, wamedia.ClassVideo},
		{"audioMessage", wamedia.Audio, wamedia.ClassAudio},
		{"documentMessage", wamedia.Document, wamedia.ClassDocument},
		{"stickerMessage", wamedia.Sticker, wamedia.ClassImage},
	}
	for _, tt := range tests {
		ev := decodeOK(t, hook(`{"`+tt.kind+`":`+mediaJSON("")+`}`))
		if len(ev.Media) != 1 {
			t.Fatalf("%s: %d items", tt.kind, len(ev.Media))
		}
		m := ev.Media[0]
		if m.Kind != tt.kind || m.Type != tt.typ || m.Class != tt.class || !m.Downloadable {
			t.Errorf("%s: Kind %q Type %q Class %q Downloadable %v %v", tt.kind, m.Kind, m.Type, m.Class, m.Downloadable, m.Problems)
		}
	}
}

func TestEveryWrapper(t *testing.T) {
	tests := []struct {
		wrapper             string
		viewOnce, ephemeral bool
	}{
		{"ephemeralMessage", false, true},
		{"viewOnceMessage", true, false},
		{"viewOnceMessageV2", true, false},
		{"viewOnceMessageV2Extension", true, false},
		{"documentWithCaptionMessage", false, false},
		{"deviceSentMessage", false, false},
		{"botInvokeMessage", false, false},
		{"lottieStickerMessage", false, false},
		{"associatedChildMessage", false, false},
		{"groupStatusMessage", false, false},
		{"groupStatusMessageV2", false, false},
		{"groupMentionedMessage", false, false},
		{"statusMentionMessage", false, false},
	}
	for _, tt := range tests {
		// Other keys around the inner message, before and after it.
		body := hook(`{"` + tt.wrapper + `":{"destinationJid":"x@s.whatsapp.net","message":{"videoMessage":` + mediaJSON("") + `},"extra":{"message":{"imageMessage":{}}}}}`)
		ev := decodeOK(t, body)
		if len(ev.Media) != 1 || ev.Media[0].Kind != "videoMessage" {
			t.Fatalf("%s: %+v", tt.wrapper, ev.Media)
		}
		m := ev.Media[0]
		if m.ViewOnce != tt.viewOnce || m.Ephemeral != tt.ephemeral || ev.ViewOnce != tt.viewOnce || ev.Ephemeral != tt.ephemeral {
			t.Errorf("%s: item ViewOnce %v Ephemeral %v, event %v %v", tt.wrapper, m.ViewOnce, m.Ephemeral, ev.ViewOnce, ev.Ephemeral)
		}
		if ev.Content != "videoMessage" {
			t.Errorf("%s: Content %q", tt.wrapper, ev.Content)
		}
	}
}

func TestWrapperDepth(t *testing.T) {
	wrapIn := func(levels int) string {
		s := `{"audioMessage":` + mediaJSON("") + `}`
		for range levels {
			s = `{"ephemeralMessage":{"message":` + s + `}}`
		}
		return hook(s)
	}
	if n := len(decodeOK(t, wrapIn(MaxWrapDepth)).Media); n != 1 {
		t.Errorf("%d wrappers: %d items, want 1", MaxWrapDepth, n)
	}
	if n := len(decodeOK(t, wrapIn(MaxWrapDepth+1)).Media); n != 0 {
		t.Errorf("%d wrappers: %d items, want 0 (beyond the bound)", MaxWrapDepth+1, n)
	}
}

func TestQuotedAndEditedMediaNotCounted(t *testing.T) {
	quoted := `"contextInfo":{"stanzaId":"Q1","participant":"5511911112222@s.whatsapp.net","quotedMessage":{"imageMessage":` + mediaJSON("") + `,"viewOnceMessageV2":{"message":{"videoMessage":` + mediaJSON("") + `}}}}`
	tests := []struct {
		name    string
		content string
		media   []string // kinds
		quoted  string
	}{
		{"text quoting media", `{"extendedTextMessage":{"text":"ok",` + quoted + `}}`, nil, "Q1"},
		{"image quoting media", `{"imageMessage":` + mediaJSON(quoted) + `}`, []string{"imageMessage"}, "Q1"},
		{"wrapped text quoting media", `{"ephemeralMessage":{"message":{"extendedTextMessage":{"text":"ok",` + quoted + `}}}}`, nil, "Q1"},
		{"wrapped audio quoting media", `{"viewOnceMessageV2":{"message":{"audioMessage":` + mediaJSON(quoted) + `}}}`, []string{"audioMessage"}, "Q1"},
		{"quote with stanzaID", `{"extendedTextMessage":{"contextInfo":{"stanzaID":"Q2","quotedMessage":{"stickerMessage":` + mediaJSON("") + `}}}}`, nil, "Q2"},
		{"editedMessage", `{"editedMessage":{"message":{"protocolMessage":{"key":{"id":"E1"},"type":"MESSAGE_EDIT","editedMessage":{"imageMessage":` + mediaJSON("") + `}}}}}`, nil, ""},
		{"protocolMessage edit", `{"protocolMessage":{"type":14,"key":{"id":"E1"},"editedMessage":{"documentMessage":` + mediaJSON("") + `}}}`, nil, ""},
		{"messageContextInfo beside media", `{"messageContextInfo":{"imageMessage":` + mediaJSON("") + `},"audioMessage":` + mediaJSON("") + `}`, []string{"audioMessage"}, ""},
		{"media in unknown key", `{"futureMessage":{"message":{"imageMessage":` + mediaJSON("") + `}}}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := decodeOK(t, hook(tt.content))
			var kinds []string
			for _, m := range ev.Media {
				kinds = append(kinds, m.Kind)
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tt.media) {
				t.Errorf("media %v, want %v", kinds, tt.media)
			}
			if ev.QuotedID != tt.quoted {
				t.Errorf("QuotedID %q, want %q", ev.QuotedID, tt.quoted)
			}
		})
	}
}

func TestKeyOrderDoesNotMatter(t *testing.T) {
	// Metadata first, media last, wrapper fields after the message: the same
	// result as the usual order.
	a := decodeOK(t, `{"msgContent":{"messageContextInfo":{"a":1},"senderKeyDistributionMessage":{"groupId":"g"},"stickerMessage":`+mediaJSON(`"isAnimated":true`)+`},"moment":"1748896286","sender":{"pushName":"M","id":"5511"},"chat":{"id":"1203@g.us"},"messageId":"X","instanceId":"I","event":"webhookReceived"}`)
	b := decodeOK(t, `{"event":"webhookReceived","instanceId":"I","messageId":"X","chat":{"id":"1203@g.us"},"sender":{"id":"5511","pushName":"M"},"moment":1748896286,"msgContent":{"stickerMessage":`+mediaJSON(`"isAnimated":true`)+`,"senderKeyDistributionMessage":{"groupId":"g"},"messageContextInfo":{"a":1}}}`)
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
		t.Errorf("key order changed the result:\n%+v\n%+v", a, b)
	}
	if !a.IsGroup || a.Content != "stickerMessage" || !a.Media[0].Animated {
		t.Errorf("IsGroup %v Content %q Animated %v", a.IsGroup, a.Content, a.Media[0].Animated)
	}
}

func TestTolerantTypes(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(*Event) string
	}{
		{"numbers as strings", hook(`{"audioMessage":` + mediaJSON(`"seconds":"12","ptt":"true","width":"7"`) + `}`), func(ev *Event) string {
			m := ev.Media[0]
			return fmt.Sprint(m.FileLength, m.MediaKeyTimestamp, m.Seconds, m.PTT, m.Width)
		}},
		{"fileLength and mediaKeyTimestamp as numbers", hook(`{"audioMessage":{"fileLength":7104,"mediaKeyTimestamp":1749253008}}`), func(ev *Event) string {
			return fmt.Sprint(ev.Media[0].FileLength, ev.Media[0].MediaKeyTimestamp)
		}},
		{"protobuf Long", hook(`{"audioMessage":{"fileLength":{"low":7104,"high":0,"unsigned":true},"mediaKeyTimestamp":{"high":1,"low":5}}}`), func(ev *Event) string {
			return fmt.Sprint(ev.Media[0].FileLength, ev.Media[0].MediaKeyTimestamp)
		}},
		{"float and exponent", hook(`{"videoMessage":{"seconds":12.7,"width":1e3,"fileLength":"12.0"}}`), func(ev *Event) string {
			return fmt.Sprint(ev.Media[0].Seconds, ev.Media[0].Width, ev.Media[0].FileLength)
		}},
		{"booleans as numbers", hook(`{"videoMessage":{"gifPlayback":1}}`) + ``, func(ev *Event) string {
			return fmt.Sprint(ev.Media[0].GIF)
		}},
		{"moment as string", `{"event":"webhookStatus","moment":"1749929175398"}`, func(ev *Event) string {
			return ev.Moment.Format(time.RFC3339Nano)
		}},
		{"moment in milliseconds", `{"event":"webhookStatus","moment":1749929175398}`, func(ev *Event) string {
			return ev.Moment.Format(time.RFC3339Nano)
		}},
		{"moment absent or junk", `{"event":"webhookStatus","moment":"soon"}`, func(ev *Event) string {
			return fmt.Sprint(ev.Moment.IsZero())
		}},
		{"ids as numbers", `{"event":"webhookReceived","instanceId":12345,"chat":{"id":5511911112222},"sender":{"id":5511911112222}}`, func(ev *Event) string {
			return ev.InstanceID + " " + ev.Chat.JID + " " + ev.Sender.ID
		}},
		{"nulls where objects are expected", `{"event":"webhookReceived","chat":null,"sender":null,"msgContent":null,"instanceId":null}`, func(ev *Event) string {
			return fmt.Sprintf("%q %q %d", ev.Chat.ID, ev.InstanceID, len(ev.Media))
		}},
		{"null media, null fields", hook(`{"imageMessage":null,"audioMessage":{"url":null,"mediaKey":null,"fileLength":null,"contextInfo":null,"ptt":null}}`), func(ev *Event) string {
			m := ev.Media[0]
			return fmt.Sprintf("%d %s %v %q", len(ev.Media), m.Kind, m.MediaKey == nil, m.Problems)
		}},
		{"wrong types where objects are expected", `{"event":"webhookReceived","chat":"x","sender":[1,2],"msgContent":"y"}`, func(ev *Event) string {
			return fmt.Sprintf("%q %q %d", ev.Chat.ID, ev.Sender.ID, len(ev.Media))
		}},
		{"media that is not an object", hook(`{"imageMessage":"abc","videoMessage":[],"audioMessage":7}`), func(ev *Event) string {
			return fmt.Sprint(len(ev.Media))
		}},
		{"unknown fields everywhere", `{"event":"webhookReceived","newTopLevel":{"deep":[{"x":[1,2,{"y":null}]}]},"chat":{"id":"1","new":true},"msgContent":{"imageMessage":` + mediaJSON(`"brandNew":{"a":[1]},"annotations":[{"polygonVertices":[{"x":0.1}]}]`) + `,"newMeta":{}}}`, func(ev *Event) string {
			return fmt.Sprint(len(ev.Media), ev.Media[0].Downloadable)
		}},
		{"protocol type as number (revoke)", hook(`{"protocolMessage":{"key":{"id":"R1"},"type":0}}`), func(ev *Event) string {
			return fmt.Sprintf("%v %v %s", ev.Revoke, ev.Edit, ev.TargetID)
		}},
		{"protocol type as string (edit)", hook(`{"protocolMessage":{"type":"MESSAGE_EDIT","key":{"id":"E1"}}}`), func(ev *Event) string {
			return fmt.Sprintf("%v %v %s", ev.Revoke, ev.Edit, ev.TargetID)
		}},
		{"protocol type as numeric string", hook(`{"protocolMessage":{"type":"14"}}`), func(ev *Event) string {
			return fmt.Sprint(ev.Revoke, ev.Edit)
		}},
		{"other protocol types", hook(`{"protocolMessage":{"type":"EPHEMERAL_SETTING"}}`), func(ev *Event) string {
			return fmt.Sprintf("%v %v %s", ev.Revoke, ev.Edit, ev.Content)
		}},
		{"stub as number", `{"event":"webhookReceived","messageStubType":2}`, func(ev *Event) string { return ev.Stub }},
		{"status as number", `{"event":"webhookStatus","status":3}`, func(ev *Event) string { return ev.Status }},
		{"fromApi spelled fromAPI", `{"event":"webhookDelivery","fromAPI":true}`, func(ev *Event) string { return fmt.Sprint(ev.FromAPI) }},
		{"escaped keys and values", `{"ev\u0065nt":"webhookReceived","instanceId":"A\/B\u00e9","msgContent":{"image\u004dessage":{"caption":"l\u00ednea\n2 \ud83d\ude00","mimetype":"image\/jpeg"}}}`, func(ev *Event) string {
			return ev.Kind + "|" + ev.InstanceID + "|" + ev.Media[0].Caption + "|" + ev.Media[0].Mimetype
		}},
		{"invalid escapes kept", `{"instanceId":"a\qb\u12","messageId":"\ud800x"}`, func(ev *Event) string {
			return ev.InstanceID + "|" + ev.MessageID
		}},
		{"pretty-printed", "{\n  \"event\" : \"webhookReceived\" ,\n\t\"msgContent\" : {\r\n \"audioMessage\" : { \"ptt\" : true } }\n}\n", func(ev *Event) string {
			return fmt.Sprint(ev.Kind, len(ev.Media), ev.Media[0].PTT)
		}},
		{"forwarded", hook(`{"videoMessage":` + mediaJSON(`"contextInfo":{"isForwarded":true,"forwardingScore":4}`) + `}`), func(ev *Event) string {
			return fmt.Sprint(ev.Media[0].Forwarded)
		}},
		{"view once field on the item", hook(`{"imageMessage":` + mediaJSON(`"viewOnce":true`) + `}`), func(ev *Event) string {
			return fmt.Sprint(ev.Media[0].ViewOnce, ev.ViewOnce)
		}},
		{"group from JID without isGroup", `{"event":"webhookReceived","chat":{"id":"120363025246125486@g.us"}}`, func(ev *Event) string {
			return fmt.Sprint(ev.IsGroup)
		}},
		{"senderLid at the top", `{"senderLid":"1@lid","sender":{"id":"2"}}`, func(ev *Event) string { return ev.Sender.LID }},
		{"unknown content key, escaped", hook(`{"new\u0041\\x":1}`), func(ev *Event) string { return ev.Content }},
		{"duplicate top-level keys: the first counts", `{"instanceId":"A","instanceId":"B","event":"webhookReceived","event":"x","msgContent":{"imageMessage":{}},"msgContent":{"videoMessage":{},"audioMessage":{}}}`, func(ev *Event) string {
			return fmt.Sprint(ev.InstanceID, ev.Kind, len(ev.Media))
		}},
	}
	want := map[string]string{
		"numbers as strings":                          "1234 1749253008 12 true 7",
		"fileLength and mediaKeyTimestamp as numbers": "7104 1749253008",
		"protobuf Long":                               "7104 4294967301",
		"float and exponent":                          "12 1000 12",
		"booleans as numbers":                         "true",
		"moment as string":                            "2025-06-14T19:26:15.398Z",
		"moment in milliseconds":                      "2025-06-14T19:26:15.398Z",
		"moment absent or junk":                       "true",
		"ids as numbers":                              "12345 5511911112222@s.whatsapp.net 5511911112222",
		"nulls where objects are expected":            `"" "" 0`,
		"null media, null fields":                     `1 audioMessage true ["directPath missing" "fileSha256 missing"]`, // no key, no enc hash: read as unencrypted
		"wrong types where objects are expected":      `"" "" 0`,
		"media that is not an object":                 "0",
		"unknown fields everywhere":                   "1 true",
		"protocol type as number (revoke)":            "true false R1",
		"protocol type as string (edit)":              "false true E1",
		"protocol type as numeric string":             "false true",
		"other protocol types":                        "false false protocolMessage",
		"stub as number":                              "CIPHERTEXT",
		"status as number":                            "3",
		"fromApi spelled fromAPI":                     "true",
		"escaped keys and values":                     "webhookReceived|A/Bé|línea\n2 😀|image/jpeg",
		"invalid escapes kept":                        `a\qb\u12|` + "\uFFFDx",
		"pretty-printed":                              "webhookReceived1 true",
		"forwarded":                                   "true",
		"view once field on the item":                 "true false",
		"group from JID without isGroup":              "true",
		"senderLid at the top":                        "1@lid",
		"duplicate top-level keys: the first counts":  "AwebhookReceived1",
		"unknown content key, escaped":                `newA\x`,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := decodeOK(t, tt.body)
			if got := tt.check(ev); got != want[tt.name] {
				t.Errorf("got %q, want %q", got, want[tt.name])
			}
		})
	}
}

func TestBase64Variants(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcd\xfb\xff")
	tests := []struct {
		name, value string
		want        int // decoded length; -1: malformed (non-nil, empty)
	}{
		{"standard", base64.StdEncoding.EncodeToString(raw), 32},
		{"unpadded", base64.RawStdEncoding.EncodeToString(raw), 32},
		{"URL-safe", base64.URLEncoding.EncodeToString(raw), 32},
		{"URL-safe unpadded", base64.RawURLEncoding.EncodeToString(raw), 32},
		{"escaped slash", strings.ReplaceAll(base64.StdEncoding.EncodeToString(raw), "/", `\/`), 32},
		{"short", base64.StdEncoding.EncodeToString(raw[:16]), 16},
		{"garbage", "not base64!!", -1},
		{"mixed alphabets", "ab+_" + base64.StdEncoding.EncodeToString(raw), -1},
	}
	for _, tt := range tests {
		ev := decodeOK(t, hook(`{"imageMessage":{"mediaKey":"`+tt.value+`"}}`))
		k := ev.Media[0].MediaKey
		switch {
		case tt.want < 0 && (k == nil || len(k) != 0):
			t.Errorf("%s: got %v, want a non-nil empty slice", tt.name, k)
		case tt.want >= 0 && len(k) != tt.want:
			t.Errorf("%s: %d bytes, want %d", tt.name, len(k), tt.want)
		case tt.want == 32 && string(k) != string(raw):
			t.Errorf("%s: wrong bytes", tt.name)
		}
	}
	// A malformed key is reported as such, an empty one as missing. (Later
	// fields override the complete ones mediaJSON starts with.)
	ev := decodeOK(t, hook(`{"imageMessage":`+mediaJSON(`"mediaKey":"!!","fileEncSha256":"","fileSha256":12`)+`}`))
	got := strings.Join(ev.Media[0].Problems, "; ")
	// A malformed key still marks the item encrypted: it is reported, never
	// mistaken for unencrypted (newsletter) media.
	if want := "mediaKey malformed (0 bytes, want 32); fileEncSha256 missing; fileSha256 malformed (0 bytes, want 32)"; got != want {
		t.Errorf("problems %q, want %q", got, want)
	}
	ev = decodeOK(t, hook(`{"imageMessage":`+mediaJSON(`"mediaKey":"!!","fileEncSha256":"QUJD"`)+`}`))
	got = strings.Join(ev.Media[0].Problems, "; ")
	if want := "mediaKey malformed (0 bytes, want 32); fileEncSha256 malformed (3 bytes, want 32)"; got != want {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestMaxMedia(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range MaxMedia + 3 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"imageMessage":` + mediaJSON(""))
	}
	b.WriteString(`}`)
	ev := decodeOK(t, hook(b.String()))
	if len(ev.Media) != MaxMedia || ev.MediaDropped != 3 {
		t.Errorf("%d items, %d dropped", len(ev.Media), ev.MediaDropped)
	}
}

func TestNormalizeJID(t *testing.T) {
	tests := map[string]string{
		"":                              "",
		"5511911112222":                 "5511911112222@s.whatsapp.net",
		"+5511911112222":                "5511911112222@s.whatsapp.net",
		"5511911112222@s.whatsapp.net":  "5511911112222@s.whatsapp.net",
		"120363025246125486@g.us":       "120363025246125486@g.us",
		"5511911112222-1600000000":      "5511911112222-1600000000@g.us",
		"123456789012345@lid":           "123456789012345@lid",
		"status":                        "status@broadcast",
		"status@broadcast":              "status@broadcast",
		"120363198765432109@newsletter": "120363198765432109@newsletter",
		"someone":                       "someone",
		"-5511":                         "-5511",
		"5511-":                         "5511-",
		"+":                             "+",
	}
	for in, want := range tests {
		if got := NormalizeJID(in); got != want {
			t.Errorf("NormalizeJID(%q) = %q, want %q", in, got, want)
		}
	}
}
