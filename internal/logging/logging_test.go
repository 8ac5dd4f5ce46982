package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestBurstsAreNotSampled logs a burst of identical lines (a media outcome
// line per item) in both formats: every line reaches the output.
func TestBurstsAreNotSampled(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "log")
			log, err := build("info", format, out)
			require.NoError(t, err)
			const n = 1000
			for i := range n {
				log.Info("download finished", zap.Int("i", i))
			}
			require.NoError(t, log.Sync())
			b, err := os.ReadFile(out)
			require.NoError(t, err)
			require.Equal(t, n, bytes.Count(b, []byte("download finished")))
		})
	}
}

func TestRefusesAnUnknownLevel(t *testing.T) {
	t.Parallel()
	_, err := New("loud", "json")
	require.ErrorContains(t, err, "LOG_LEVEL")
}
