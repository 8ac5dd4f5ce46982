package blob

import (
	"errors"
	"io"
	"sync"
)

// asyncBufSize is the size of each buffer an AsyncWriter hands over.
const asyncBufSize = 256 << 10

// AsyncWriter writes to an underlying writer on a goroutine of its own, so
// that a producer (the decrypter) and the write system calls (copying into
// the page cache, which is as costly as a hash pass) run on two cores. It
// holds at most nbuf buffers of 256 KiB whatever the size of the stream.
//
// Write copies and returns at once; a write error of the underlying writer
// is reported by a later Write and by Close. Close must be called before
// the underlying writer is used again (committed or aborted). It is not
// safe for concurrent use.
type AsyncWriter struct {
	jobs chan []byte
	free chan []byte
	done chan struct{}
	cur  []byte

	mu  sync.Mutex
	err error

	closed bool
}

// NewAsyncWriter starts the writing goroutine with nbuf buffers (at least 2).
func NewAsyncWriter(w io.Writer, nbuf int) *AsyncWriter {
	nbuf = max(nbuf, 2)
	a := &AsyncWriter{
		jobs: make(chan []byte, nbuf),
		free: make(chan []byte, nbuf),
		done: make(chan struct{}),
	}
	for range nbuf - 1 {
		a.free <- make([]byte, 0, asyncBufSize)
	}
	a.cur = make([]byte, 0, asyncBufSize)
	go a.run(w)
	return a
}

func (a *AsyncWriter) run(w io.Writer) {
	defer close(a.done)
	for b := range a.jobs {
		if a.failed() == nil {
			if _, err := w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

func (a *AsyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// errAsyncClosed is a Write after Close.
var errAsyncClosed = errors.New("blob: write to a closed AsyncWriter")

// Write copies p into the current buffer, handing full buffers to the
// writing goroutine.
func (a *AsyncWriter) Write(p []byte) (int, error) {
	if a.closed {
		return 0, errAsyncClosed
	}
	if err := a.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		c := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur = a.cur[:len(a.cur)+c]
		p = p[c:]
		if len(a.cur) == cap(a.cur) {
			a.jobs <- a.cur
			a.cur = <-a.free
		}
	}
	return n, nil
}

// Close writes what is buffered, waits for the goroutine and reports the
// first write error.
func (a *AsyncWriter) Close() error {
	if a.closed {
		return a.failed()
	}
	a.closed = true
	if len(a.cur) > 0 {
		a.jobs <- a.cur
	}
	a.cur = nil
	close(a.jobs)
	<-a.done
	return a.failed()
}
