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
