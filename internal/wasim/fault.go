package wasim

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// FaultKind names one way the simulated CDN misbehaves.
type FaultKind string

// The fault kinds. Latency and the body faults (reset, corrupt, truncate,
// slow, stall) combine with each other; of the answering faults (error,
// ratelimit, expired, redirect) the first that fires decides the answer.
const (
	// FaultLatency waits Delay before answering.
	FaultLatency FaultKind = "latency"
	// FaultError answers Status (default 500): a transient server error.
	FaultError FaultKind = "error"
	// FaultRateLimit answers 429 with a Retry-After of RetryAfter (default 1s).
	FaultRateLimit FaultKind = "ratelimit"
	// FaultExpired answers Status (default 404; 403 and 410 are the other
	// real ones): the media is gone from the CDN.
	FaultExpired FaultKind = "expired"
	// FaultRedirect answers 302 to Location (default: the same path and
	// query on http://127.0.0.2:<port>, another host).
	FaultRedirect FaultKind = "redirect"
	// FaultReset sends the headers and After body bytes (default half), then
	// resets the TCP connection.
	FaultReset FaultKind = "reset"
	// FaultCorrupt flips one byte of the body, at offset After (default the
	// middle): the client sees enc_hash_mismatch.
	FaultCorrupt FaultKind = "corrupt"
	// FaultTruncate sends only the first After bytes (default all but 7) with
	// a matching Content-Length: a complete-looking short blob (truncated).
	FaultTruncate FaultKind = "truncate"
	// FaultSlow sends the body at BytesPerSecond (default 1).
	FaultSlow FaultKind = "slow"
	// FaultStall sends the headers and After body bytes (default 0), then
	// nothing until the client gives up.
	FaultStall FaultKind = "stall"
)

// FaultKinds lists every fault kind.
var FaultKinds = []FaultKind{FaultLatency, FaultError, FaultRateLimit, FaultExpired, FaultRedirect,
	FaultReset, FaultCorrupt, FaultTruncate, FaultSlow, FaultStall}

// Fault is one misbehaviour of the CDN, set globally (Server.SetFaults) or
// for one item (Item.SetFaults). Item faults are considered before global ones.
type Fault struct {
	Kind FaultKind
	// Rate is the probability that the fault fires on a request, in (0, 1];
	// 0 means every request.
	Rate float64
	// Times caps how often the fault fires (0: no cap): Times 2 with
	// FaultError fails twice, then lets requests through.
	Times int
	// Status is the answer of FaultError and FaultExpired.
	Status int
	// Delay is the wait of FaultLatency.
	Delay time.Duration
	// RetryAfter is the Retry-After of FaultRateLimit, rounded up to seconds.
	RetryAfter time.Duration
	// After is a body offset in bytes: see each kind.
	After int64
	// Location is the target of FaultRedirect.
	Location string
	// BytesPerSecond is the pace of FaultSlow.
	BytesPerSecond int
}

// faultJSON is Fault with durations as strings ("250ms").
type faultJSON struct {
	Kind           FaultKind `json:"kind"`
	Rate           float64   `json:"rate,omitempty"`
	Times          int       `json:"times,omitempty"`
	Status         int       `json:"status,omitempty"`
	Delay          string    `json:"delay,omitempty"`
	RetryAfter     string    `json:"retryAfter,omitempty"`
	After          int64     `json:"after,omitempty"`
	Location       string    `json:"location,omitempty"`
	BytesPerSecond int       `json:"bytesPerSecond,omitempty"`
}

// MarshalJSON renders durations as strings such as "250ms".
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Kind: f.Kind, Rate: f.Rate, Times: f.Times, Status: f.Status,
		After: f.After, Location: f.Location, BytesPerSecond: f.BytesPerSecond}
	if f.Delay != 0 {
		j.Delay = f.Delay.String()
	}
	if f.RetryAfter != 0 {
		j.RetryAfter = f.RetryAfter.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes and validates it.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault{Kind: j.Kind, Rate: j.Rate, Times: j.Times, Status: j.Status,
		After: j.After, Location: j.Location, BytesPerSecond: j.BytesPerSecond}
	var err error
	if j.Delay != "" {
		if f.Delay, err = time.ParseDuration(j.Delay); err != nil {
			return fmt.Errorf("fault delay: %w", err)
		}
	}
	if j.RetryAfter != "" {
		if f.RetryAfter, err = time.ParseDuration(j.RetryAfter); err != nil {
			return fmt.Errorf("fault retryAfter: %w", err)
		}
	}
	return f.Validate()
}

// Validate reports a fault that cannot be applied.
func (f Fault) Validate() error {
	known := false
	for _, k := range FaultKinds {
		known = known || k == f.Kind
	}
	switch {
	case !known:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	case f.Rate < 0 || f.Rate > 1:
		return fmt.Errorf("fault %s: rate %v outside [0, 1]", f.Kind, f.Rate)
	case f.Times < 0 || f.After < 0 || f.BytesPerSecond < 0 || f.Delay < 0 || f.RetryAfter < 0:
		return fmt.Errorf("fault %s: negative value", f.Kind)
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return fmt.Errorf("fault %s: status %d", f.Kind, f.Status)
	}
	return nil
}

// answers reports whether the kind decides the response by itself.
func (k FaultKind) answers() bool {
	switch k {
	case FaultError, FaultRateLimit, FaultExpired, FaultRedirect:
		return true
	}
	return false
}

// faultSet is a list of faults with their firing counts.
type faultSet struct {
	mu     sync.Mutex
	faults []Fault
	fired  []int
}

func (s *faultSet) set(f []Fault) error {
	for _, x := range f {
		if err := x.Validate(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append([]Fault(nil), f...)
	s.fired = make([]int, len(f))
	return nil
}

func (s *faultSet) get() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Fault{}, s.faults...)
}

// roll adds the faults that fire on this request to p; dice returns a
// uniform number in [0, 1).
func (s *faultSet) roll(p *plan, dice func() float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Times > 0 && s.fired[i] >= f.Times {
			continue
		}
		if f.Kind.answers() && p.answer != nil {
			continue
		}
		if f.Kind != FaultLatency && !f.Kind.answers() && p.body[f.Kind] != nil {
			continue
		}
		if f.Rate > 0 && f.Rate < 1 && dice() >= f.Rate {
			continue
		}
		s.fired[i]++
		p.add(f)
	}
}

// plan is what the CDN does to one request.
type plan struct {
	delay  time.Duration
	answer *Fault
	body   map[FaultKind]*Fault
	fired  []FaultKind
}

func (p *plan) add(f Fault) {
	p.fired = append(p.fired, f.Kind)
	switch {
	case f.Kind == FaultLatency:
		p.delay += f.Delay
	case f.Kind.answers():
		p.answer = &f
	default:
		if p.body == nil {
			p.body = map[FaultKind]*Fault{}
		}
		p.body[f.Kind] = &f
	}
}
