package wapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		body   string
		reason string // part of the error
	}{
		{"", "empty body"},
		{"   \n", "empty body"},
		{"[]", "want a JSON object, found an array"},
		{`"webhook"`, "found a string"},
		{"42", "found a number"},
		{"null", "found null"},
		{"true", "found a boolean"},
		{"{", "unexpected end of input"},
		{`{"event"`, "expected ':'"},
		{`{"event":}`, `unexpected character '}'`},
		{`{"event":"x",}`, "expected a string as object key"},
		{`{"event":"x" "a":1}`, "expected ',' or '}'"},
		{`{"event":"unterminated}`, "unterminated string"},
		{`{"a":tru}`, "invalid literal"},
		{`{"a":[1,2,]}`, "unexpected character ']'"},
		{`{"a":[1 2]}`, "expected ',' or ']'"},
		{`{"a":{"b":1]}`, "expected ',' or '}'"},
		{`{"a":[}`, `unexpected character '}'`},
		{`{"msgContent":{"imageMessage":{"url":"x",}}}`, "expected a string as object key"},
		{`{} {}`, "unexpected data after the JSON object"},
		{`{}x`, "unexpected data after the JSON object"},
		{`{a:1}`, "expected a string as object key"},
		{`{"a":-}`, "unexpected character '-'"},
		{strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), "nesting deeper than"},
		{`{"a":` + strings.Repeat("[", MaxDepth+5), "nesting deeper than"},
		{`{"msgContent":` + strings.Repeat(`{"ephemeralMessage":{"message":`, 300) + "{}" + strings.Repeat("}}", 300) + "}", "nesting deeper than"},
	}
	for _, tt := range tests {
		ev, err := Decode([]byte(tt.body))
		var se *SyntaxError
		if err == nil || !errors.As(err, &se) {
			t.Errorf("Decode(%.40q) = %v, %v; want a *SyntaxError", tt.body, ev, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("Decode(%.40q): %v; want it to say %q", tt.body, err, tt.reason)
		}
		if ev != nil {
			t.Errorf("Decode(%.40q) returned an event with its error", tt.body)
		}
		if _, perr := Peek([]byte(tt.body)); perr == nil || perr.Error() != err.Error() {
			t.Errorf("Peek(%.40q) = %v; want Decode's error %v", tt.body, perr, err)
		}
	}
}

// TestAcceptsValidJSON checks the scanner against encoding/json on valid
// documents of every shape.
func TestAcceptsValidJSON(t *testing.T) {
	docs := []string{
		`{}`, `{ }`, ` {"a" : [ ] , "b" : { } } `, `{"a":[[],[[]],{},[{}]]}`,
		`{"a":"","b":"\"","c":"\\","d":"\\\"","e":"x\\\\"}`,
		`{"n":[0,-1,1.5,-2.5e10,3E-2,1e+2]}`, `{"l":[true,false,null]}`,
		`{"s":"` + strings.Repeat("long string with no quote ", 20) + `"}`,
		`{"s":"` + strings.Repeat(`\"`, 50) + `"}`,
		`{"s":"` + strings.Repeat("é😀", 40) + `"}`,
		"{\"a\":\n\t[\r\n1 ,\n2\n]\n}",
	}
	for _, d := range docs {
		if !json.Valid([]byte(d)) {
			t.Fatalf("test document %q is not valid JSON", d)
		}
		if _, err := Decode([]byte(d)); err != nil {
			t.Errorf("Decode(%q): %v", d, err)
		}
	}
}

func TestPeek(t *testing.T) {
	for _, name := range []string{"image.json", "status_read.json", "connected.json", "presence.json"} {
		body := readSample(t, name)
		h, err := Peek(body)
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := Decode(body)
		if h != ev.Head {
			t.Errorf("%s: Peek = %+v; Decode says %+v", name, h, ev.Head)
		}
	}
	// Peek and Decode read the same instance out of tricky bodies.
	tricky := []string{
		`{"instanceId":"A","instanceId":"B"}`,
		`{"\u0069nstanceId":"B","instanceId":"A"}`,
		`{"instanceId":"A\u0042","chat":{"instanceId":"C"}}`,
		`{"msgContent":{"instanceId":"C"},"instanceId":"A"}`,
		`{"instanceId":null,"instanceId":"A"}`,
		`{"status":"READ","status":"PLAYED","moment":"1748896286","moment":1}`,
		`{"msgContent":{"status":"X","moment":5},"status":7,"moment":1748896286123}`,
	}
	for _, body := range tricky {
		h, err := Peek([]byte(body))
		ev, derr := Decode([]byte(body))
		if err != nil || derr != nil || h != ev.Head {
			t.Errorf("%s: Peek %+v (%v), Decode %+v (%v)", body, h, err, ev.Head, derr)
		}
	}
}

// TestHostileInputIsCheap: big or deeply nested bodies fail or pass quickly
// and without allocating in proportion to their structure.
func TestHostileInputIsCheap(t *testing.T) {
	const size = 1 << 20
	bodies := map[string][]byte{
		"deep arrays":     []byte(`{"a":` + strings.Repeat("[", size)),
		"deep objects":    []byte(strings.Repeat(`{"a":`, size/5)),
		"many values":     []byte(`{"a":[` + strings.Repeat("0,", size/2) + `0]}`),
		"many keys":       []byte(`{` + strings.Repeat(`"k":1,`, size/6) + `"k":1}`),
		"many media":      []byte(hook(`{` + strings.Repeat(`"imageMessage":{},`, size/18) + `"x":1}`)),
		"many wrappers":   []byte(hook(`{` + strings.Repeat(`"ephemeralMessage":{"message":{"x":1}},`, size/40) + `"x":1}`)),
		"long string":     []byte(`{"a":"` + strings.Repeat("x", size) + `"}`),
		"backslashes":     []byte(`{"a":"` + strings.Repeat(`\\`, size/2) + `"}`),
		"escaped quotes":  []byte(`{"a":"` + strings.Repeat(`\"`, size/2) + `"}`),
		"unterminated":    []byte(`{"a":"` + strings.Repeat(`\"`, size/2)),
		"huge thumbnail":  []byte(hook(`{"imageMessage":{"jpegThumbnail":"` + strings.Repeat("QUFB", size/4) + `"}}`)),
		"many quotes ids": []byte(hook(`{` + strings.Repeat(`"extendedTextMessage":{"contextInfo":{"stanzaId":"Q"}},`, size/60) + `"x":1}`)),
	}
	for name, body := range bodies {
		start := time.Now()
		allocs := testing.AllocsPerRun(1, func() {
			if ev, err := Decode(body); err == nil && len(ev.Media) > MaxMedia {
				t.Errorf("%s: %d media items", name, len(ev.Media))
			}
			Peek(body)
		})
		if allocs > 100 { // MaxMedia items and their problems at most
			t.Errorf("%s: %v allocations", name, allocs)
		}
		// Linear work takes milliseconds (more under -race on a busy machine);
		// anything superlinear on 1 MiB takes minutes.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
}
