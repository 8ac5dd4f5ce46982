package evolution

import (
	"strings"
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestCorpus decodes every sample of testdata (each Evolution version's
// encodings, wrappers, receipts) and compares with testdata/golden.
func TestCorpus(t *testing.T) {
	webhooktest.Golden(t, Peek, Decode)
}

// TestRepeatedFields: a field sent twice counts once, at its first
// occurrence, in Decode as in Peek.
func TestRepeatedFields(t *testing.T) {
	webhooktest.Repeated(t, "testdata", Peek, Decode)
}

// TestBytesEncodings: the same 32-byte key in every encoding Evolution used
// decodes to the same bytes; an index-keyed object with a gap, a repeated or
// out-of-range index, a value out of byte range or a stray member is
// malformed, never guessed.
func TestBytesEncodings(t *testing.T) {
	var idx, jsonb, buf, data strings.Builder
	idx.WriteString("{")
	buf.WriteString(`{"type":"Buffer","data":[`)
	for i := range 32 {
		if i > 0 {
			idx.WriteString(",")
			buf.WriteString(",")
		}
		idx.WriteString(`"` + itoa(i) + `":` + itoa(i*7))
		buf.WriteString(itoa(i * 7))
		data.WriteByte(byte(i * 7))
	}
	idx.WriteString("}")
	buf.WriteString("]}")
	// PostgreSQL JSONB's key order: by length, then bytes.
	jsonb.WriteString("{")
	for i, k := range jsonbOrder(32) {
		if i > 0 {
			jsonb.WriteString(",")
		}
		jsonb.WriteString(`"` + itoa(k) + `":` + itoa(k*7))
	}
	jsonb.WriteString("}")
	tests := []struct {
		name, value string
		want        string // "" nil, "!" malformed
	}{
		{"index-keyed", idx.String(), data.String()},
		{"JSONB order", jsonb.String(), data.String()},
		{"Buffer", buf.String(), data.String()},
		{"Buffer data first", `{"data":[1,2,3],"type":"Buffer"}`, "\x01\x02\x03"},
		{"base64", `"AAECAw=="`, "\x00\x01\x02\x03"},
		{"base64 url-safe unpadded", `"-_8"`, "\xfb\xff"},
		{"values as strings", `{"1":"2","0":"1"}`, "\x01\x02"},
		{"white space", "{ \"1\" :\t2 ,\n\"0\": 1 }", "\x01\x02"},
		{"index after a string value", `{"0":"1","1":2}`, "\x01\x02"},
		{"value 1e2", `{"0":7,"1":1e2}`, "!"},
		{"value 1-2", `{"0":1-2}`, "!"},
		{"value 0255", `{"0":0255}`, "!"},
		{"value 2550", `{"0":2550}`, "!"},
		{"empty object", `{}`, ""},
		{"empty string", `""`, ""},
		{"null", `null`, ""},
		{"gap", `{"0":1,"2":3}`, "!"},
		{"missing zero", `{"1":1,"2":3}`, "!"},
		{"repeated index", `{"0":1,"0":1}`, "!"},
		{"negative index", `{"-1":1,"0":1}`, "!"},
		{"leading zero", `{"00":1}`, "!"},
		{"huge index", `{"0":1,"999999999":3}`, "!"},
		{"value 256", `{"0":256}`, "!"},
		{"value -1", `{"0":-1}`, "!"},
		{"value 1.5", `{"0":1.5}`, "!"},
		{"value object", `{"0":{}}`, "!"},
		{"stray member", `{"0":1,"length":1}`, "!"},
		{"Buffer of another type", `{"type":"Uint8Array","data":[1]}`, "!"},
		{"type without data", `{"type":"Buffer"}`, "!"},
		{"Buffer with a bad value", `{"type":"Buffer","data":[1,300]}`, "!"},
		{"Buffer mixed with indexes", `{"type":"Buffer","data":[1],"0":1}`, "!"},
		{"number", `12`, "!"},
		{"array", `[1,2]`, "!"},
	}
	for _, tt := range tests {
		body := `{"event":"messages.upsert","instance":"i","data":{"key":{"id":"X"},"message":{"imageMessage":{"mediaKey":` + tt.value + `}}}}`
		evs, err := Decode([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := evs[0].Media[0].MediaKey
		switch {
		case tt.want == "" && got != nil:
			t.Errorf("%s: %v, want absent", tt.name, got)
		case tt.want == "!" && (got == nil || len(got) != 0):
			t.Errorf("%s: %v, want malformed", tt.name, got)
		case tt.want != "" && tt.want != "!" && string(got) != tt.want:
			t.Errorf("%s: %v, want %v", tt.name, got, []byte(tt.want))
		}
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func jsonbOrder(n int) []int {
	var out []int
	for digits := 1; len(out) < n; digits++ {
		for i := range n {
			if len(itoa(i)) == digits {
				out = append(out, i)
			}
		}
	}
	return out
}

// TestLongs: timestamps and lengths as numbers, strings and protobuf Longs.
func TestLongs(t *testing.T) {
	for _, v := range []string{`1780359560`, `"1780359560"`, `{"low":1780359560,"high":0,"unsigned":true}`, `1780359560000`} {
		evs, err := Decode([]byte(`{"event":"messages.upsert","instance":"i","data":{"key":{"id":"X"},"messageTimestamp":` + v + `,"message":{"audioMessage":{"fileLength":` + v + `}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := evs[0].Moment.Unix(); got != 1780359560 {
			t.Errorf("%s: moment %d", v, got)
		}
		if got := evs[0].Media[0].FileLength; got != 1780359560 && got != 1780359560000 {
			t.Errorf("%s: fileLength %d", v, got)
		}
	}
}

// TestNotAnObject: only bodies that are not one JSON object fail.
func TestNotAnObject(t *testing.T) {
	for _, body := range []string{"", "[]", `"x"`, "{", `{"event":}`, `{} {}`, strings.Repeat("[", 600)} {
		if _, err := Decode([]byte(body)); err == nil {
			t.Errorf("%q: no error", body)
		}
		if _, err := Peek([]byte(body)); err == nil {
			t.Errorf("%q: Peek: no error", body)
		}
	}
	evs, err := Decode([]byte(`{"data":null,"event":7,"instance":{"a":1}}`))
	if err != nil || evs[0].Provider != webhook.Evolution || evs[0].Message {
		t.Fatalf("%+v %v", evs, err)
	}
}

// TestWhatsmeowSpellings: URL, fileSHA256, fileEncSHA256 and other cases of
// the usual keys are read.
func TestWhatsmeowSpellings(t *testing.T) {
	key := `"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="`
	evs, err := Decode([]byte(`{"event":"messages.upsert","instance":"i","data":{"key":{"id":"X"},"message":{"imageMessage":{"URL":"https://mmg.whatsapp.net/v/t62.7118-24/1_n.enc","Mimetype":"image/jpeg","MediaKey":` + key + `,"fileSHA256":` + key + `,"fileEncSHA256":` + key + `,"FileLength":12}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := evs[0].Media[0]
	if !m.Downloadable || m.Mimetype != "image/jpeg" || m.FileLength != 12 || m.Integrity != webhook.IntegrityHMAC {
		t.Fatalf("%+v", m)
	}
}
