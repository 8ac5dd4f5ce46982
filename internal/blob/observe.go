package blob

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// ObserveFunc is told of every store operation: its name (create, write,
// commit, abort, open, stat, exists, remove, clean_temp, probe, presign),
// how long it took and its error. Writes are reported only when they fail
// (a file is written in many small writes). A missing file is not an error.
type ObserveFunc func(op string, took time.Duration, err error)

// Observed is a Store that reports each operation of the store it wraps to
// a function (metrics); it answers Probe, Presign and Leftovers when the
// wrapped store does.
type Observed struct {
	s  Store
	fn ObserveFunc
}

// Observe wraps s so that fn hears of every operation.
func Observe(s Store, fn ObserveFunc) *Observed { return &Observed{s: s, fn: fn} }

// Unwrap is the wrapped store.
func (o *Observed) Unwrap() Store { return o.s }

func (o *Observed) observe(op string, start time.Time, err error) {
	if isMissing(err) {
		err = nil
	}
	o.fn(op, time.Since(start), err)
}

func isMissing(err error) bool {
	return err != nil && errors.Is(err, fs.ErrNotExist)
}

// Create starts a file whose writes, commit and abort are reported too.
func (o *Observed) Create(clienteID int64) (*Pending, error) {
	start := time.Now()
	p, err := o.s.Create(clienteID)
	o.observe("create", start, err)
	if err != nil {
		return nil, err
	}
	p.b = &observedBackend{backend: p.b, o: o}
	return p, nil
}

// Open opens a stored file.
func (o *Observed) Open(rel string) (io.ReadSeekCloser, error) {
	start := time.Now()
	f, err := o.s.Open(rel)
	o.observe("open", start, err)
	return f, err
}

// Stat describes a stored file.
func (o *Observed) Stat(rel string) (Stored, error) {
	start := time.Now()
	st, err := o.s.Stat(rel)
	o.observe("stat", start, err)
	return st, err
}

// Exists reports whether a stored file is present.
func (o *Observed) Exists(rel string) bool {
	start := time.Now()
	ok := o.s.Exists(rel)
	o.observe("exists", start, nil)
	return ok
}

// Remove deletes a stored file.
func (o *Observed) Remove(rel string) error {
	start := time.Now()
	err := o.s.Remove(rel)
	o.observe("remove", start, err)
	return err
}

// CleanTemp removes what killed writers left.
func (o *Observed) CleanTemp(olderThan time.Duration) (int, error) {
	start := time.Now()
	n, err := o.s.CleanTemp(olderThan)
	o.observe("clean_temp", start, err)
	return n, err
}

// Probe reports whether the wrapped store takes writes; a store that cannot
// tell is trusted.
func (o *Observed) Probe() error {
	p, ok := o.s.(interface{ Probe() error })
	if !ok {
		return nil
	}
	start := time.Now()
	err := p.Probe()
	o.observe("probe", start, err)
	return err
}

// ErrNoPresign is Presign on a store that cannot presign (Local).
var ErrNoPresign = errors.New("the media store cannot presign URLs")

// Presign returns a URL serving the stored file for ttl, when the wrapped
// store can presign (S3); else ErrNoPresign.
func (o *Observed) Presign(rel string, ttl time.Duration, opts ...PresignOption) (string, error) {
	p, ok := o.s.(interface {
		Presign(string, time.Duration, ...PresignOption) (string, error)
	})
	if !ok {
		return "", ErrNoPresign
	}
	start := time.Now()
	u, err := p.Presign(rel, ttl, opts...)
	o.observe("presign", start, err)
	return u, err
}

// Leftovers lists what writers left behind in the wrapped store (Local and
// S3 can tell).
func (o *Observed) Leftovers() ([]string, error) {
	l, ok := o.s.(interface{ Leftovers() ([]string, error) })
	if !ok {
		return nil, errors.New("the media store cannot list leftovers")
	}
	return l.Leftovers()
}

// observedBackend reports a Pending's failed writes, commit and abort, and
// passes Expect and Bind through.
type observedBackend struct {
	backend
	o *Observed
}

func (b *observedBackend) Write(p []byte) (int, error) {
	start := time.Now()
	n, err := b.backend.Write(p)
	if err != nil {
		b.o.observe("write", start, err)
	}
	return n, err
}

func (b *observedBackend) commit(rel string, size int64) (Stored, error) {
	start := time.Now()
	st, err := b.backend.commit(rel, size)
	b.o.observe("commit", start, err)
	return st, err
}

func (b *observedBackend) abort() error {
	start := time.Now()
	err := b.backend.abort()
	b.o.observe("abort", start, err)
	return err
}

func (b *observedBackend) expect(rel string) {
	if e, ok := b.backend.(expecter); ok {
		e.expect(rel)
	}
}

func (b *observedBackend) bind(ctx context.Context) {
	if bd, ok := b.backend.(binder); ok {
		bd.bind(ctx)
	}
}
