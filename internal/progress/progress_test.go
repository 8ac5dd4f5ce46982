package progress

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func TestTerminalLineHasRateAndETA(t *testing.T) {
	t.Parallel()
	c := newClock()
	var out bytes.Buffer
	b := newBar(&out, "copying", 1000, true, c.now)
	for range 10 {
		c.add(time.Second)
		b.Set(-1, 50) // 50 a second
	}
	lines := strings.Split(out.String(), "\r\033[K")
	last := lines[len(lines)-1]
	require.Contains(t, last, "500/1000 ( 50%)")
	require.Contains(t, last, "50.0/s")
	require.Contains(t, last, "ETA 10s", "500 left at 50/s")
	require.Contains(t, last, "10s elapsed")

	// The pace changes: the rate follows the recent window, not the mean.
	for range 10 {
		c.add(time.Second)
		b.Set(-1, 10)
	}
	lines = strings.Split(out.String(), "\r\033[K")
	last = lines[len(lines)-1]
	require.Contains(t, last, "600/1000")
	require.Contains(t, last, "10.0/s")
	require.Contains(t, last, "ETA 40s")

	b.Finish()
	require.True(t, strings.HasSuffix(out.String(), "\r\033[Kcopying: 600 of 1000 in 20s (30.0/s)\n"), out.String())
}

func TestTerminalRedrawsAtMostEvery200ms(t *testing.T) {
	t.Parallel()
	c := newClock()
	var out bytes.Buffer
	b := newBar(&out, "x", 0, true, c.now)
	for range 100 {
		c.add(10 * time.Millisecond)
		b.Set(-1, 1)
	}
	require.Equal(t, 5, strings.Count(out.String(), "\r"), "one second: five redraws")
	require.NotContains(t, out.String(), "ETA", "no ETA without a total")
	require.Contains(t, out.String(), "x: 81, 100/s, 0.8s elapsed")
}

func TestNotATerminalPrintsOneSummary(t *testing.T) {
	t.Parallel()
	c := newClock()
	var out bytes.Buffer
	b := newBar(&out, "exporting media", 0, false, c.now)
	for i := range 200 {
		c.add(100 * time.Millisecond)
		b.Set(int64(i+1), 0)
	}
	require.Empty(t, out.String(), "quiet while it runs")
	b.SetTotal(200)
	b.Finish()
	require.Equal(t, "exporting media: 200 in 20s (10.0/s)\n", out.String())
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer devNull.Close()
	require.False(t, IsTerminal(devNull), "/dev/null is a character device, not a terminal")

	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	require.False(t, IsTerminal(f))

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	require.False(t, IsTerminal(w))

	require.False(t, IsTerminal(&bytes.Buffer{}))
	var nilFile *os.File
	require.False(t, IsTerminal(nilFile))

	// New on /dev/null: nothing until the summary.
	b := New(devNull, "quiet", 3)
	require.False(t, b.terminal)
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		1500 * time.Millisecond: "1.5s", 42 * time.Second: "42s", 185 * time.Second: "3m05s",
		2*time.Hour + 7*time.Minute + 30*time.Second: "2h07m",
	} {
		require.Equal(t, want, formatDuration(d))
	}
}

// TestSamplesStayFewAtAnyCallRate calls Set a million times a second: the
// samples behind the rate stay bounded by the window, not by the calls.
func TestSamplesStayFewAtAnyCallRate(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	b := newBar(io.Discard, "importing", 0, true, func() time.Time { return now })
	for range 200_000 {
		now = now.Add(time.Microsecond * 100) // 20 s in all
		b.Set(-1, 1)
	}
	require.LessOrEqual(t, len(b.samples), int(rateWindow/sampleEvery)+2)
	require.InDelta(t, 10_000, b.rate(now), 100, "items per second")
}
