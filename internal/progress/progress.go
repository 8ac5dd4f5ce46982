// Package progress prints the progress of long operations: a line redrawn in
// place on a terminal, or a plain line every few seconds when the output is a
// file or a pipe (logs, CI).
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar reports done/total of a named operation. Its methods are safe for
// concurrent use.
type Bar struct {
	w        io.Writer
	label    string
	total    int64
	terminal bool
	every    time.Duration
	start    time.Time

	mu      sync.Mutex
	done    int64
	last    time.Time
	printed bool
}

// New returns a bar writing to w; total 0 means unknown.
func New(w io.Writer, label string, total int64) *Bar {
	b := &Bar{w: w, label: label, total: total, terminal: IsTerminal(w), every: 5 * time.Second, start: time.Now()}
	if b.terminal {
		b.every = 100 * time.Millisecond
	}
	return b
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Set sets done (when ≥ 0) and adds delta, redrawing when due.
func (b *Bar) Set(done, delta int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if done >= 0 {
		b.done = done
	}
	b.done += delta
	if time.Since(b.last) >= b.every {
		b.draw(false)
	}
}

// SetTotal changes the total.
func (b *Bar) SetTotal(total int64) {
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
}

func (b *Bar) draw(final bool) {
	b.last = time.Now()
	elapsed := time.Since(b.start).Round(100 * time.Millisecond)
	var line string
	if b.total > 0 {
		pct := float64(b.done) / float64(b.total)
		if pct > 1 {
			pct = 1
		}
		width := 30
		fill := int(pct * float64(width))
		line = fmt.Sprintf("%s [%s%s] %d/%d (%3.0f%%) %s", b.label, strings.Repeat("=", fill),
			strings.Repeat(" ", width-fill), b.done, b.total, pct*100, elapsed)
	} else {
		line = fmt.Sprintf("%s: %d %s", b.label, b.done, elapsed)
	}
	switch {
	case b.terminal && final:
		fmt.Fprintf(b.w, "\r\033[K%s\n", line)
	case b.terminal:
		fmt.Fprintf(b.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(b.w, line)
	}
	b.printed = true
}
