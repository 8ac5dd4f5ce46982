package meta

import (
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// FuzzDecode: Decode and Peek never panic, agree with each other, accept
// every valid JSON object within the depth limit and return checked media.
// Seeds: the samples of testdata and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	webhooktest.Seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		webhooktest.Fuzz(t, body, Peek, Decode)
	})
}
