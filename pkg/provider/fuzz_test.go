package provider

import (
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
	"github.com/multichat/mediapipe/pkg/webhook"
)

// FuzzDetect: Detect never panics, fails only on what is not a JSON object
// or fits no provider, and what it detects, that provider's decoder reads.
// Seeds: every provider's samples.
func FuzzDetect(f *testing.F) {
	for _, dir := range []string{"../wapi/testdata", "../evolution/testdata", "../waha/testdata", "../zapi/testdata", "../meta/testdata"} {
		_, bodies := webhooktest.Corpus(f, dir)
		for _, b := range bodies {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Detect(body)
		if err != nil {
			return
		}
		evs, err := Decode(p, body)
		if err != nil {
			t.Fatalf("detected %s, which refuses it: %v", p, err)
		}
		webhooktest.Agree(t, body, func(b []byte) (webhook.Head, error) { return Peek(p, b) }, evs)
	})
}
