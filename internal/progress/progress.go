// Package progress prints the progress of long operations. On a terminal it
// redraws one line in place with the count, the rate and the time left;
// anywhere else (a file, a pipe, /dev/null: logs and CI) it stays quiet and
// prints one summary line when the operation finishes.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// redrawEvery is how often a terminal line is redrawn at most.
const redrawEvery = 200 * time.Millisecond

// sampleEvery spaces the samples the rate is computed from, so that at most
// rateWindow/sampleEvery are kept however often Set is called.
const sampleEvery = 100 * time.Millisecond

// rateWindow is how far back the rate looks: long enough to smooth bursts,
// short enough to follow a change of pace.
const rateWindow = 10 * time.Second

// Bar reports done/total of a named operation. Its methods are safe for
// concurrent use.
type Bar struct {
	w        io.Writer
	label    string
	terminal bool
	now      func() time.Time
	start    time.Time

	mu      sync.Mutex
	total   int64
	done    int64
	last    time.Time // last redraw
	samples []sample  // (time, done) within rateWindow, oldest first
}

type sample struct {
	at   time.Time
	done int64
}

// New returns a bar writing to w; total 0 means unknown. It draws only when
// w is a terminal (see IsTerminal).
func New(w io.Writer, label string, total int64) *Bar {
	return newBar(w, label, total, IsTerminal(w), time.Now)
}

func newBar(w io.Writer, label string, total int64, terminal bool, now func() time.Time) *Bar {
	start := now()
	return &Bar{w: w, label: label, total: total, terminal: terminal, now: now, start: start,
		samples: []sample{{start, 0}}}
}

// IsTerminal reports whether w is an *os.File open on a terminal. A file, a
// pipe or /dev/null (a character device, but no terminal) is not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}

// Set sets done (when ≥ 0) and adds delta, redrawing the terminal line when
// due.
func (b *Bar) Set(done, delta int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if done >= 0 {
		b.done = done
	}
	b.done += delta
	now := b.now()
	b.observe(now)
	if b.terminal && now.Sub(b.last) >= redrawEvery {
		b.last = now
		fmt.Fprintf(b.w, "\r\033[K%s", b.line(now))
	}
}

// SetTotal changes the total.
func (b *Bar) SetTotal(total int64) {
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Finish ends the operation: the terminal line is drawn a last time and
// ended; elsewhere one summary line is printed.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.terminal {
		fmt.Fprintf(b.w, "\r\033[K%s\n", b.summary(now))
		return
	}
	fmt.Fprintln(b.w, b.summary(now))
}

// observe records a sample for the rate, keeping those within rateWindow
// (and always one before it, so that the window is full once it can be).
func (b *Bar) observe(now time.Time) {
	if last := b.samples[len(b.samples)-1]; now.Sub(last.at) < sampleEvery {
		return // the rate uses done as of now; a sample per Set would grow with the call rate
	}
	b.samples = append(b.samples, sample{now, b.done})
	drop := 0
	for drop+1 < len(b.samples) && now.Sub(b.samples[drop+1].at) >= rateWindow {
		drop++
	}
	b.samples = b.samples[drop:]
}

// rate is the items per second over the recent window; 0 while too little
// time has passed to tell.
func (b *Bar) rate(now time.Time) float64 {
	first := b.samples[0]
	span := now.Sub(first.at)
	if span < time.Second/2 {
		return 0
	}
	return float64(b.done-first.done) / span.Seconds()
}

// line is the terminal line: label, bar, count, percent, rate, ETA.
func (b *Bar) line(now time.Time) string {
	var s strings.Builder
	s.WriteString(b.label)
	rate := b.rate(now)
	if b.total > 0 {
		pct := min(float64(b.done)/float64(b.total), 1)
		const width = 24
		fill := int(pct * width)
		fmt.Fprintf(&s, " [%s%s] %d/%d (%3.0f%%)", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
			b.done, b.total, pct*100)
	} else {
		fmt.Fprintf(&s, ": %d", b.done)
	}
	if rate > 0 {
		fmt.Fprintf(&s, ", %s/s", formatRate(rate))
		if left := b.total - b.done; b.total > 0 && left > 0 {
			fmt.Fprintf(&s, ", ETA %s", formatDuration(time.Duration(float64(left)/rate*float64(time.Second))))
		}
	}
	fmt.Fprintf(&s, ", %s elapsed", formatDuration(now.Sub(b.start)))
	return s.String()
}

// summary is the final line: what was done, how long it took, the mean rate.
func (b *Bar) summary(now time.Time) string {
	took := now.Sub(b.start)
	var s strings.Builder
	fmt.Fprintf(&s, "%s: %d", b.label, b.done)
	if b.total > 0 && b.total != b.done {
		fmt.Fprintf(&s, " of %d", b.total)
	}
	fmt.Fprintf(&s, " in %s", formatDuration(took))
	if took >= time.Second && b.done > 0 {
		fmt.Fprintf(&s, " (%s/s)", formatRate(float64(b.done)/took.Seconds()))
	}
	return s.String()
}

// formatRate writes a rate with about three significant digits.
func formatRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// formatDuration writes d as 42s, 3m05s or 2h07m.
func formatDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
