package zapi

import (
	"testing"

	"github.com/multichat/mediapipe/pkg/internal/webhooktest"
)

// TestCorpus decodes every sample of testdata (each media kind, groups,
// receipts and deliveries) and compares with testdata/golden.
func TestCorpus(t *testing.T) {
	webhooktest.Golden(t, Peek, Decode)
}
