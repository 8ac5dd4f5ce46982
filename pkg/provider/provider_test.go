package provider

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// TestEveryCorpus: every sample of every provider's testdata is detected as
// that provider, and Decode and Peek through the registry agree with each
// other.
func TestEveryCorpus(t *testing.T) {
	dirs := map[webhook.Provider]string{
		webhook.WAPI: "../wapi/testdata", webhook.Evolution: "../evolution/testdata",
		webhook.WAHA: "../waha/testdata", webhook.ZAPI: "../zapi/testdata", webhook.Meta: "../meta/testdata",
	}
	for p, dir := range dirs {
		names, bodies := webhooktest.Corpus(t, dir)
		for i, body := range bodies {
			got, err := Detect(body)
			if err != nil || got != p {
				t.Errorf("%s/%s: detected %q, %v", p, names[i], got, err)
			}
			evs, err := Decode(p, body)
			if err != nil {
				t.Fatalf("%s/%s: %v", p, names[i], err)
			}
			webhooktest.Agree(t, body, func(b []byte) (webhook.Head, error) { return Peek(p, b) }, evs)
			if evs[0].Provider != p {
				t.Errorf("%s/%s: provider %q", p, names[i], evs[0].Provider)
			}
		}
	}
}

// TestWAPIRepeatedFields: W-API bodies with every member of every object
// sent twice give the same Head, in Peek as in Decode.
func TestWAPIRepeatedFields(t *testing.T) {
	webhooktest.Repeated(t, "../wapi/testdata",
		func(b []byte) (webhook.Head, error) { return Peek(webhook.WAPI, b) },
		func(b []byte) ([]webhook.Event, error) { return Decode(webhook.WAPI, b) })
}

func TestDetectRefuses(t *testing.T) {
	if _, err := Detect([]byte(`{"hello":"world"}`)); !errors.Is(err, ErrUnknownShape) {
		t.Errorf("unknown shape: %v", err)
	}
	if _, err := Detect([]byte(`[1]`)); err == nil || errors.Is(err, ErrUnknownShape) {
		t.Errorf("not an object: %v", err)
	}
	if _, err := Decode("telegram", []byte(`{}`)); err == nil {
		t.Error("unknown provider decoded")
	}
	if _, err := Peek("telegram", []byte(`{}`)); err == nil {
		t.Error("unknown provider peeked")
	}
}

// TestWAPINeutral: the W-API event in the neutral model keeps the
// descriptor as wapi.Decode gives it, as an encrypted CDN item.
func TestWAPINeutral(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("../wapi/testdata", "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := Decode(webhook.WAPI, body)
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	if !ev.Message || len(ev.Media) != 1 {
		t.Fatalf("%+v", ev)
	}
	m := ev.Media[0]
	if m.Source != webhook.SourceCDN || m.Integrity != webhook.IntegrityHMAC || !m.Downloadable || len(m.MediaKey) != 32 {
		t.Fatalf("%+v", m)
	}
}
