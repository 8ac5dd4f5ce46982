package meta

import (
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// TestCorpus decodes every sample of testdata (each media type, batches of
// several messages and phone numbers, statuses, echoes, hashes in hex and
// base64) and compares with testdata/golden.
func TestCorpus(t *testing.T) {
	webhooktest.Golden(t, Peek, Decode)
}

// TestRepeatedFields: a field sent twice counts once, at its first
// occurrence, in Decode as in Peek.
func TestRepeatedFields(t *testing.T) {
	webhooktest.Repeated(t, "testdata", Peek, Decode)
}
