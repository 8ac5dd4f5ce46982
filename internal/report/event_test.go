package report

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/multichat/mediapipe/pkg/provider"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// neutralProviders are the providers Event renders, with their samples.
var neutralProviders = []webhook.Provider{webhook.Evolution, webhook.WAHA, webhook.ZAPI, webhook.Meta}

// providerSamples decodes every sample of p's testdata.
func providerSamples(t *testing.T, p webhook.Provider) (names []string, evs [][]webhook.Event) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("../../pkg", string(p), "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatal("no samples", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := provider.Decode(p, body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
		evs = append(evs, ev)
	}
	return names, evs
}

// TestEventGolden renders every sample of the other providers and compares
// it with testdata/golden/<provider>/<sample>.txt. After an intended change:
//
//	go test ./internal/report -run TestEventGolden -update
func TestEventGolden(t *testing.T) {
	t.Parallel()
	for _, p := range neutralProviders {
		names, evs := providerSamples(t, p)
		for i, name := range names {
			t.Run(string(p)+"/"+name, func(t *testing.T) {
				var buf bytes.Buffer
				for n := range evs[i] {
					if n > 0 {
						buf.WriteString("---\n")
					}
					if err := Event(&buf, &evs[i][n]); err != nil {
						t.Fatal(err)
					}
				}
				golden(t, filepath.Join(string(p), name+".txt"), buf.Bytes())
			})
		}
	}
}

// TestEventNeverShowsSecrets: no key or hash appears whole, and no URL
// keeps its query.
func TestEventNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	for _, p := range neutralProviders {
		names, evs := providerSamples(t, p)
		for i := range names {
			for _, ev := range evs[i] {
				var buf bytes.Buffer
				if err := Event(&buf, &ev); err != nil {
					t.Fatal(err)
				}
				out := buf.String()
				for _, m := range ev.Media {
					for _, secret := range [][]byte{m.MediaKey, m.FileSHA256, m.FileEncSHA256} {
						if len(secret) < 9 {
							continue
						}
						for _, enc := range []string{base64.StdEncoding.EncodeToString(secret)[:12], hex.EncodeToString(secret)[:12]} {
							if strings.Contains(out, enc) {
								t.Errorf("%s/%s: the report shows %q", p, names[i], enc)
							}
						}
					}
					for _, u := range []string{m.URL, m.DirectPath, m.FileURL} {
						if _, q, ok := strings.Cut(u, "?"); ok && strings.Contains(out, q) {
							t.Errorf("%s/%s: the report shows the query %q", p, names[i], q)
						}
					}
				}
			}
		}
	}
}

func TestEventEdges(t *testing.T) {
	t.Parallel()
	ev := &webhook.Event{Head: webhook.Head{Provider: webhook.WAHA, Kind: "message", Moment: time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)},
		Message: true, Chat: webhook.Chat{ID: "5511@c.us", JID: "5511@s.whatsapp.net"},
		Media: []webhook.Media{
			{Descriptor: wamedia.Descriptor{Type: wamedia.Image, Kind: "image"}, Source: webhook.SourceFile, Refused: "not downloaded by the WAHA server"},
			{Descriptor: wamedia.Descriptor{Type: wamedia.Document, Kind: "document", FileSHA256: []byte("0123456789abcdef0123456789abcdef")}, Source: webhook.SourceGraph, MediaID: "1234"},
		}, MediaDropped: 1}
	for i := range ev.Media {
		ev.Media[i].Check()
	}
	var buf bytes.Buffer
	if err := Event(&buf, ev); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Instance:        (none)", "Time:            2026-06-02T00:00:00Z", "Chat:            5511@s.whatsapp.net (sent as 5511@c.us)",
		"Media:           2 items (1 more not extracted: over 16)",
		"Source:          file (a plain file at the provider)", "Integrity:       content_only",
		"Downloadable:    no: not downloaded by the WAHA server",
		"Source:          graph (a media id at Meta's Graph API)", "Integrity:       sha256", "Media ID:        1234", "sha256:          MDEyMz…",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	if err := Event(failingWriter{}, ev); err == nil {
		t.Error("a write error was not returned")
	}
}
