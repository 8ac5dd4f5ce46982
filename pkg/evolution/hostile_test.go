package evolution

import (
	"strings"
	"testing"
	"time"
)

// TestHostileLinear: bodies of about 1 MiB built to cost the decoder the
// most (repeated index-keyed objects claiming huge indexes, one huge object,
// long Buffers, thousands of media items and wrappers) decode in time and
// memory linear in their size.
func TestHostileLinear(t *testing.T) {
	wrap := func(media string) string {
		return `{"event":"messages.upsert","instance":"i","data":{"key":{"id":"X"},"message":{"imageMessage":{` + media + `}}}}`
	}
	bodies := map[string]string{
		"repeated huge indexes": wrap(strings.Repeat(`"mediaKey":{"9999999":1},`, 40000) + `"url":""`),
		"one huge object":       wrap(`"jpegThumbnail":{` + strings.TrimSuffix(strings.Repeat(`"1":1,`, 170000), ",") + `}`),
		"long Buffer":           wrap(`"jpegThumbnail":{"type":"Buffer","data":[` + strings.TrimSuffix(strings.Repeat(`255,`, 250000), ",") + `]}`),
		"many media":            `{"data":{"message":{` + strings.TrimSuffix(strings.Repeat(`"imageMessage":{"mediaKey":"AAAA"},`, 30000), ",") + `}}}`,
		"deep wrappers":         `{"data":{"message":` + strings.Repeat(`{"ephemeralMessage":{"message":`, 250) + `{}` + strings.Repeat(`}}`, 250) + `}}`,
	}
	for name, body := range bodies {
		start := time.Now()
		allocs := testing.AllocsPerRun(1, func() {
			if _, err := Decode([]byte(body)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := Peek([]byte(body)); err != nil {
				t.Fatalf("%s: Peek: %v", name, err)
			}
		})
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s (%d bytes): took %v", name, len(body), d)
		}
		if allocs > 300 {
			t.Errorf("%s: %v allocations", name, allocs)
		}
	}
}
