package webhook

import (
	"slices"
	"testing"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestCheck: each source's requirements, the integrity each allows, and a
// provider's refusal kept as the reason.
func TestCheck(t *testing.T) {
	sum := make([]byte, 32)
	cdn := wamedia.Descriptor{Type: wamedia.Image, Class: wamedia.ClassImage, DirectPath: "/v/t62/1_n.enc", MediaKey: sum, FileSHA256: sum, FileEncSHA256: sum}
	tests := []struct {
		name      string
		m         Media
		integrity Integrity
		problems  []string
	}{
		{"encrypted blob", Media{Descriptor: cdn, Source: SourceCDN}, IntegrityHMAC, nil},
		{"encrypted blob without its key", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Image, DirectPath: "/v/1", FileEncSHA256: sum, FileSHA256: sum}, Source: SourceCDN}, IntegrityHMAC, []string{"mediaKey missing"}},
		{"plain file", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Audio}, Source: SourceFile, FileURL: "http://waha:3000/api/files/default/a.oga"}, IntegrityContentOnly, nil},
		{"plain file with its hash", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Audio, FileSHA256: sum}, Source: SourceFile, FileURL: "https://storage.z-api.io/a.ogg"}, IntegritySHA256, nil},
		{"plain file, no url", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Video}, Source: SourceFile}, IntegrityContentOnly, []string{"file url missing"}},
		{"plain file, relative url", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Video}, Source: SourceFile, FileURL: "/api/files/a.mp4"}, IntegrityContentOnly, []string{"file url malformed"}},
		{"plain file, ftp", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Video}, Source: SourceFile, FileURL: "ftp://host/a.mp4"}, IntegrityContentOnly, []string{"file url malformed"}},
		{"refused by the provider", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Video}, Source: SourceFile, Refused: "not downloaded by provider"}, IntegrityContentOnly, []string{"not downloaded by provider"}},
		{"graph with sha256", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Sticker, FileSHA256: sum}, Source: SourceGraph, MediaID: "1003"}, IntegritySHA256, nil},
		{"graph without sha256", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Document}, Source: SourceGraph, MediaID: "1003"}, IntegrityContentOnly, nil},
		{"graph, malformed sha256", Media{Descriptor: wamedia.Descriptor{Type: wamedia.Image, FileSHA256: []byte{}}, Source: SourceGraph, MediaID: "1003"}, IntegrityContentOnly, []string{"sha256 malformed"}},
		{"graph, no id, no type", Media{Source: SourceGraph}, IntegrityContentOnly, []string{"media id missing", `media type "" unknown`}},
		{"no source", Media{Descriptor: cdn}, "", []string{`source "" unknown`}},
	}
	for _, tt := range tests {
		m := tt.m
		m.Check()
		if m.Integrity != tt.integrity || !slices.Equal(m.Problems, tt.problems) && len(m.Problems)+len(tt.problems) > 0 || m.Downloadable != (len(tt.problems) == 0) || m.Problems == nil {
			t.Errorf("%s: integrity %q problems %q downloadable %v; want %q %q", tt.name, m.Integrity, m.Problems, m.Downloadable, tt.integrity, tt.problems)
		}
	}
}

func TestParseProvider(t *testing.T) {
	for _, p := range Providers {
		if got, err := ParseProvider(" " + string(p) + " "); got != p || err != nil {
			t.Errorf("%s: %q %v", p, got, err)
		}
	}
	if got, err := ParseProvider("Z-API"); got != ZAPI || err != nil {
		t.Errorf("Z-API: %q %v", got, err)
	}
	if _, err := ParseProvider("telegram"); err == nil {
		t.Error("telegram accepted")
	}
}
