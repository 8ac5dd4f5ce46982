package wapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// TestReportGolden renders every sample and compares it with
// testdata/golden/<sample>.txt. After an intended change:
//
//	go test ./pkg/wapi -run TestReportGolden -update
func TestReportGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatal("no samples", err)
	}
	res := &Resolved{ClienteID: "12", ClienteName: "Loja Exemplo", InstanceLabel: "atendimento"}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			ev, err := Decode(readSample(t, filepath.Base(f)))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Report(&buf, ev, nil); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".txt", buf.Bytes())
		})
	}
	ev, _ := Decode(readSample(t, "image.json"))
	var buf bytes.Buffer
	if err := Report(&buf, ev, res); err != nil {
		t.Fatal(err)
	}
	golden(t, "image_resolved.txt", buf.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after an intended change)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestReportNeverShowsSecrets: no key or hash appears whole, and no
// directPath keeps its signed query.
func TestReportNeverShowsSecrets(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		ev, err := Decode(readSample(t, filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		Report(&buf, ev, nil)
		out := buf.String()
		for _, m := range ev.Media {
			for _, secret := range [][]byte{m.MediaKey, m.FileSHA256, m.FileEncSHA256} {
				if len(secret) == 0 {
					continue
				}
				for _, enc := range []string{base64.StdEncoding.EncodeToString(secret)[:12], hex.EncodeToString(secret)[:12]} {
					if strings.Contains(out, enc) {
						t.Errorf("%s: the report shows %q", f, enc)
					}
				}
			}
			if strings.Contains(out, "oh=") {
				t.Errorf("%s: the report shows a signed query", f)
			}
		}
	}
}

func TestReportEdges(t *testing.T) {
	ev := &Event{Kind: KindReceived, Media: []wamedia.Descriptor{{Type: wamedia.Audio, Kind: "audioMessage", MediaKey: []byte{}}}, MediaDropped: 2}
	ev.Media[0].Check()
	var buf bytes.Buffer
	if err := Report(&buf, ev, &Resolved{ClienteID: "7"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Time:            (none)", "Cliente:         id 7", "Media:           1 item (2 more not extracted: over 16)",
		"Size:            (not declared)", "Voice note:      no", "mediaKey:        (malformed)", "fileSha256:      (none)",
		"Downloadable:    no: directPath missing; mediaKey malformed (0 bytes, want 32); fileEncSha256 missing; fileSha256 missing",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	if err := Report(failingWriter{}, ev, nil); err == nil {
		t.Error("a write error was not returned")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestShorten(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, "(none)"},
		{[]byte{}, "(malformed)"},
		{[]byte{1}, "AQ==…"},
		{[]byte("0123456789abcdef0123456789abcdef"), "MDEyMz…"},
	}
	for _, tt := range tests {
		if got := Shorten(tt.in); got != tt.want {
			t.Errorf("Shorten(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExtension(t *testing.T) {
	tests := map[string]string{
		"image/jpeg":             ".jpg",
		"image/webp":             ".webp",
		"video/mp4":              ".mp4",
		"audio/ogg; codecs=opus": ".ogg",
		"audio/mpeg":             ".mp3",
		"application/pdf":        ".pdf",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
		"application/was":   ".was",
		" Image/PNG ":       ".png",
		"application/x-new": "",
		"":                  "",
	}
	for in, want := range tests {
		if got := Extension(in); got != want {
			t.Errorf("Extension(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 7104: "6.9 KiB", 2482015: "2.4 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB", 1 << 62: "4.0 EiB"}
	for in, want := range tests {
		if got := HumanBytes(in); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
