// Package webhooktest holds what the tests of every webhook decoder share:
// loading a testdata corpus, golden summaries of decoded events, the fuzz
// invariants and the benchmark loop.
package webhooktest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
	"github.com/multichat/mediapipe/pkg/wamedia"
	"github.com/multichat/mediapipe/pkg/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden summaries in testdata/golden")

// Peek and Decode are a provider's two calls.
type (
	Peek   func([]byte) (webhook.Head, error)
	Decode func([]byte) ([]webhook.Event, error)
)

// Corpus returns the JSON bodies in dir (testdata), by file name, sorted.
func Corpus(t testing.TB, dir string) (names []string, bodies [][]byte) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
		bodies = append(bodies, b)
	}
	return names, bodies
}

// Golden decodes every body of testdata and compares the Summary of its
// events with testdata/golden/NAME.txt (written with -update). It also checks
// that Peek agrees with Decode on every body.
func Golden(t *testing.T, peek Peek, decode Decode) {
	t.Helper()
	names, bodies := Corpus(t, "testdata")
	for i, name := range names {
		evs, err := decode(bodies[i])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		Agree(t, bodies[i], peek, evs)
		got := Summary(evs)
		path := filepath.Join("testdata", "golden", name+".txt")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", name, err)
		}
		if got != string(want) {
			t.Errorf("%s: decoded\n%s\nwant\n%s", name, got, want)
		}
	}
}

// Repeated checks that a body of dir whose objects, at every level, have all their
// members twice is read as the original: Decode and Peek accept it, agree,
// and give the same Head (the first occurrence of a field wins).
func Repeated(t *testing.T, dir string, peek Peek, decode Decode) {
	t.Helper()
	names, bodies := Corpus(t, dir)
	for i, body := range bodies {
		var twice bytes.Buffer
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := repeat(dec, &twice); err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		orig, err := decode(body)
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		evs, err := decode(twice.Bytes())
		if err != nil {
			t.Errorf("%s repeated: %v", names[i], err)
			continue
		}
		Agree(t, twice.Bytes(), peek, evs)
		if evs[0].Head != orig[0].Head {
			t.Errorf("%s repeated: %+v, want %+v", names[i], evs[0].Head, orig[0].Head)
		}
	}
}

// repeat copies the next JSON value of dec to out with every object's
// members written twice.
func repeat(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		b, err := json.Marshal(tok)
		out.Write(b)
		return err
	}
	var members [][]byte
	for dec.More() {
		var m bytes.Buffer
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			b, _ := json.Marshal(k)
			m.Write(b)
			m.WriteByte(':')
		}
		if err := repeat(dec, &m); err != nil {
			return err
		}
		members = append(members, m.Bytes())
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if d == '{' {
		members = append(members, members...)
		out.WriteByte('{')
	} else {
		out.WriteByte('[')
	}
	out.Write(bytes.Join(members, []byte(",")))
	if d == '{' {
		out.WriteByte('}')
	} else {
		out.WriteByte(']')
	}
	return nil
}

// Agree checks that Peek reads the Head of the first event as Decode did.
func Agree(t *testing.T, body []byte, peek Peek, evs []webhook.Event) {
	t.Helper()
	h, err := peek(body)
	if err != nil {
		t.Fatalf("Decode accepted what Peek refused: %v", err)
	}
	if len(evs) == 0 {
		t.Fatalf("Decode returned no event")
	}
	if h != evs[0].Head {
		t.Fatalf("Peek %+v, Decode %+v", h, evs[0].Head)
	}
}

// Summary renders events one line each, and their media items one line
// each below, with every field a test wants to pin.
func Summary(evs []webhook.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		moment := ""
		if !ev.Moment.IsZero() {
			moment = ev.Moment.Format("2006-01-02T15:04:05.000Z")
		}
		fmt.Fprintf(&b, "%s instance=%q kind=%q id=%q status=%q moment=%s more=%v message=%v fromMe=%v group=%v chat=%q/%q sender=%q/%q/%q content=%q quoted=%q dropped=%d\n",
			ev.Provider, ev.InstanceID, ev.Kind, ev.MessageID, ev.Status, moment, ev.MoreInstances, ev.Message, ev.FromMe, ev.IsGroup,
			ev.Chat.ID, ev.Chat.JID, ev.Sender.ID, ev.Sender.JID, ev.Sender.Name, ev.Content, ev.QuotedID, ev.MediaDropped)
		for _, m := range ev.Media {
			key := ""
			if m.Key != nil {
				key = fmt.Sprintf("%s/%v/%s/%s", m.Key.RemoteJID, m.Key.FromMe, m.Key.ID, m.Key.Participant)
			}
			fmt.Fprintf(&b, "  %s %s %s source=%s integrity=%s ok=%v problems=%q mime=%q len=%d keys=%d/%d/%d thumb=%d url=%q path=%q file=%q media=%q key=%q caption=%q name=%q flags=%s\n",
				m.Type, m.Kind, m.Class, m.Source, m.Integrity, m.Downloadable, m.Problems, m.Mimetype, m.FileLength,
				len(m.MediaKey), len(m.FileSHA256), len(m.FileEncSHA256), len(m.Thumbnail), m.URL, m.DirectPath,
				m.FileURL, m.MediaID, key, m.Caption, m.FileName, flags(&m.Descriptor))
		}
	}
	return b.String()
}

func flags(d *wamedia.Descriptor) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{d.PTT, "ptt"}, {d.GIF, "gif"}, {d.Animated, "animated"}, {d.ViewOnce, "viewonce"}, {d.Ephemeral, "ephemeral"}, {d.Forwarded, "forwarded"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return "[" + strings.Join(f, ",") + "]" + fmt.Sprintf("%dx%d/%ds/%dp", d.Width, d.Height, d.Seconds, d.PageCount)
}

// Fuzz checks the invariants of a decoder on one input: Peek and Decode
// never panic and agree (the same error, or the same Head as the first
// event), every valid JSON object within jsonscan.MaxDepth is accepted, and
// every media item is checked and consistent.
func Fuzz(t *testing.T, body []byte, peek Peek, decode Decode) {
	evs, err := decode(body)
	_, perr := peek(body)
	if (err == nil) != (perr == nil) {
		t.Fatalf("Decode error %v, Peek error %v", err, perr)
	}
	if err != nil {
		if ValidObject(body) {
			t.Fatalf("rejected a valid JSON object: %v", err)
		}
		return
	}
	Agree(t, body, peek, evs)
	for _, ev := range evs {
		if len(ev.Media) > webhook.MaxMedia {
			t.Fatalf("%d media items", len(ev.Media))
		}
		for _, m := range ev.Media {
			if m.Class != wamedia.ClassOf(m.Type) || m.Type == "" {
				t.Fatalf("Kind %q Type %q Class %q", m.Kind, m.Type, m.Class)
			}
			if m.Problems == nil || m.Downloadable != (len(m.Problems) == 0) || m.Integrity == "" {
				t.Fatalf("not checked: Downloadable %v Problems %v Integrity %q", m.Downloadable, m.Problems, m.Integrity)
			}
		}
	}
}

// ValidObject reports whether b is a valid JSON object nested at most
// jsonscan.MaxDepth deep.
func ValidObject(b []byte) bool {
	if !json.Valid(b) || bytes.TrimLeft(b, " \t\r\n")[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > jsonscan.MaxDepth {
				return false
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// Seed adds the corpus of testdata to a fuzz target.
func Seed(f *testing.F) {
	_, bodies := Corpus(f, "testdata")
	for _, b := range bodies {
		f.Add(b)
	}
}

// Benchmarks runs a decoder's three benchmarks on the samples of testdata,
// round robin: Decode (the analyzer's read), Peek (the ingest's) and the
// baseline, encoding/json into a struct of the fields Decode reads.
func Benchmarks(b *testing.B, peek Peek, decode Decode, baseline func([]byte) error) {
	b.Run("Decode", func(b *testing.B) {
		bench(b, func(body []byte) error { _, err := decode(body); return err })
	})
	b.Run("Peek", func(b *testing.B) {
		bench(b, func(body []byte) error { _, err := peek(body); return err })
	})
	b.Run("EncodingJSON", func(b *testing.B) { bench(b, baseline) })
}

// bench decodes the corpus of testdata round robin with decode, reporting
// webhooks/s and the average body size.
func bench(b *testing.B, decode func([]byte) error) {
	_, corpus := Corpus(b, "testdata")
	total := 0
	for _, w := range corpus {
		total += len(w)
	}
	b.SetBytes(int64(total / len(corpus)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := decode(corpus[i%len(corpus)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
	b.ReportMetric(float64(total/len(corpus)), "bytes/webhook")
}
