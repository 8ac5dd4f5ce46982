package authlimit

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultLinesPerSecond is how many lines per reason a Sampler writes each
// second.
const DefaultLinesPerSecond = 10

// maxReasons bounds a Sampler's memory; reasons are a small fixed set in
// practice.
const maxReasons = 256

// Sampler writes warnings about refused requests, at most PerSecond lines
// per reason and second. The lines it holds back are counted and reported in
// one summary line ("… suppressed") with the reason and the count, written
// when the second ends. A burst of refusals thus costs a few lines a second
// while every refusal stays counted. Safe for concurrent use.
type Sampler struct {
	// Log receives the lines; nil discards them.
	Log *zap.Logger
	// PerSecond is the lines per reason and second; 0 or less takes
	// DefaultLinesPerSecond.
	PerSecond int

	mu      sync.Mutex
	reasons map[string]*window
}

type window struct {
	start      time.Time
	written    int
	suppressed int
	msg        string // of the first suppressed line, for the summary
	flushing   bool   // a summary is scheduled
}

// Warn writes msg with the field reason=reason and fields, unless reason
// already had its lines this second.
func (s *Sampler) Warn(reason, msg string, fields ...zap.Field) {
	if s.Log == nil {
		return
	}
	per := s.PerSecond
	if per <= 0 {
		per = DefaultLinesPerSecond
	}
	now := time.Now()
	s.mu.Lock()
	if s.reasons == nil {
		s.reasons = map[string]*window{}
	}
	w := s.reasons[reason]
	if w == nil {
		if len(s.reasons) >= maxReasons {
			s.mu.Unlock()
			return
		}
		w = &window{start: now}
		s.reasons[reason] = w
	}
	if now.Sub(w.start) >= time.Second && !w.flushing {
		w.start, w.written = now, 0
	}
	if w.written < per && !w.flushing {
		w.written++
		s.mu.Unlock()
		s.Log.Warn(msg, append(fields, zap.String("reason", reason))...)
		return
	}
	w.suppressed++
	if !w.flushing {
		w.flushing, w.msg = true, msg
		time.AfterFunc(time.Second-now.Sub(w.start), func() { s.flush(reason) })
	}
	s.mu.Unlock()
}

// flush writes the summary of reason's suppressed lines and opens a new
// second.
func (s *Sampler) flush(reason string) {
	s.mu.Lock()
	w := s.reasons[reason]
	n, msg := w.suppressed, w.msg
	w.suppressed, w.flushing, w.start, w.written = 0, false, time.Now(), 0
	s.mu.Unlock()
	s.Log.Warn(msg+" (similar lines suppressed)", zap.String("reason", reason), zap.Int("suppressed", n),
		zap.Duration("within", time.Second))
}
