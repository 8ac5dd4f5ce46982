package waha

import (
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// TestCorpus decodes every sample of testdata (each engine, downloaded and
// not downloaded media, receipts, session events) and compares with
// testdata/golden.
func TestCorpus(t *testing.T) {
	webhooktest.Golden(t, Peek, Decode)
}

// TestRepeatedFields: a field sent twice counts once, at its first
// occurrence, in Decode as in Peek.
func TestRepeatedFields(t *testing.T) {
	webhooktest.Repeated(t, "testdata", Peek, Decode)
}
