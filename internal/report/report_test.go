package report

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/wapi"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// samples are pkg/wapi's webhook samples, the parser's own test data.
const samples = "../../pkg/wapi/testdata"

func sampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(samples, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatal("no samples", err)
	}
	return files
}

func decodeFile(t testing.TB, path string) *wapi.Event {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := wapi.Decode(body)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ev
}

// TestWebhookGolden renders every sample and compares it with
// testdata/golden/<sample>.txt. After an intended change:
//
//	go test ./internal/report -run TestWebhookGolden -update
func TestWebhookGolden(t *testing.T) {
	t.Parallel()
	for _, f := range sampleFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Webhook(&buf, decodeFile(t, f)); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".txt", buf.Bytes())
		})
	}
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
	t.Parallel()
	for _, f := range sampleFiles(t) {
		ev := decodeFile(t, f)
		var buf bytes.Buffer
		if err := Webhook(&buf, ev); err != nil {
			t.Fatal(err)
		}
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

func TestWebhookEdges(t *testing.T) {
	t.Parallel()
	ev := &wapi.Event{Head: wapi.Head{Kind: wapi.KindReceived},
		Media: []wamedia.Descriptor{{Type: wamedia.Audio, Kind: "audioMessage", MediaKey: []byte{}}}, MediaDropped: 2}
	ev.Media[0].Check()
	var buf bytes.Buffer
	if err := Webhook(&buf, ev); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Time:            (none)", "Instance:        (none)", "Media:           1 item (2 more not extracted: over 16)",
		"Size:            (not declared)", "Voice note:      no", "mediaKey:        (malformed)", "fileSha256:      (none)",
		"Downloadable:    no: directPath missing; mediaKey malformed (0 bytes, want 32); fileEncSha256 missing; fileSha256 missing",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	if err := Webhook(failingWriter{}, ev); err == nil {
		t.Error("a write error was not returned")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestShorten(t *testing.T) {
	t.Parallel()
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

// FuzzWebhook: whatever Decode accepts, the report renders without error
// (and without panicking). Seeds: the samples.
func FuzzWebhook(f *testing.F) {
	for _, file := range sampleFiles(f) {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := wapi.Decode(body)
		if err != nil {
			return
		}
		if err := Webhook(io.Discard, ev); err != nil {
			t.Fatal(err)
		}
	})
}
