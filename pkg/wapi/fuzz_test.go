package wapi

import (
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/waproto"
	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// FuzzDecode: Decode and Peek never panic, agree with each other (the same
// error, or the same Head: instance, kind, message id, status and moment),
// accept every valid JSON object within MaxDepth, and return checked
// descriptors.
// Seeds: testdata/fuzz/FuzzDecode (the samples and hostile shapes).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(hook(`{"imageMessage":` + mediaJSON("") + `}`)))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Decode(body)
		h, perr := Peek(body)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Decode error %v, Peek error %v", err, perr)
		}
		if err != nil {
			if webhooktest.ValidObject(body) {
				t.Fatalf("rejected a valid JSON object: %v", err)
			}
			return
		}
		if h != ev.Head {
			t.Fatalf("Peek %+v, Decode %+v", h, ev.Head)
		}
		if len(ev.Media) > MaxMedia {
			t.Fatalf("%d media items", len(ev.Media))
		}
		for _, m := range ev.Media {
			checkDescriptor(t, &m)
		}
	})
}

// FuzzParseMediaObject: never panics; a descriptor comes back checked.
// Seeds: testdata/fuzz/FuzzParseMediaObject.
func FuzzParseMediaObject(f *testing.F) {
	f.Add("imageMessage", []byte(mediaJSON("")))
	f.Fuzz(func(t *testing.T, kind string, data []byte) {
		m, err := ParseMediaObject(kind, data)
		if err != nil {
			if m != nil {
				t.Fatal("a descriptor with an error")
			}
			return
		}
		checkDescriptor(t, m)
	})
}

func checkDescriptor(t *testing.T, m *wamedia.Descriptor) {
	t.Helper()
	if _, typ := waproto.MediaKind([]byte(m.Kind)); typ != m.Type || m.Class != wamedia.ClassOf(m.Type) { // "" for a bare object without a kind
		t.Fatalf("Kind %q Type %q Class %q", m.Kind, m.Type, m.Class)
	}
	if m.Problems == nil || m.Downloadable != (len(m.Problems) == 0) {
		t.Fatalf("not checked: Downloadable %v Problems %v", m.Downloadable, m.Problems)
	}
}
