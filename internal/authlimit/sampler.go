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
// per reason and second. The lines it holds back are counted, and the next
// line of that reason written in a later second carries the count in the
// field "suppressed". A burst of refusals thus costs a few lines a second
// while every refusal stays counted. It starts no goroutine. Safe for
// concurrent use.
type Sampler struct {
	// Log receives the lines; nil discards them.
	Log *zap.Logger
	// PerSecond is the lines per reason and second; 0 or less takes
	// DefaultLinesPerSecond.
	PerSecond int
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time

	mu      sync.Mutex
	reasons map[string]*window
}

type window struct {
	start      time.Time
	written    int
	suppressed int
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
	if s.Now != nil {
		now = s.Now()
	}
	s.mu.Lock()
	if s.reasons == nil {
		s.reasons = map[string]*window{}
	}
	w := s.reasons[reason]
	if w == nil {
		if len(s.reasons) >= maxReasons {
			clear(s.reasons)
		}
		w = &window{start: now}
		s.reasons[reason] = w
	}
	held := 0
	if now.Sub(w.start) >= time.Second {
		held = w.suppressed
		w.start, w.written, w.suppressed = now, 0, 0
	}
	if w.written >= per {
		w.suppressed++
		s.mu.Unlock()
		return
	}
	w.written++
	s.mu.Unlock()
	fields = append(fields, zap.String("reason", reason))
	if held > 0 {
		fields = append(fields, zap.Int("suppressed", held))
	}
	s.Log.Warn(msg, fields...)
}
