package blob

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func TestAsyncWriterCopiesEveryByteInOrder(t *testing.T) {
	data := make([]byte, 5*asyncBufSize+12345)
	rand.Read(data)
	var out bytes.Buffer
	a := NewAsyncWriter(&out, 3)
	// Odd write sizes cross buffer boundaries.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 70001)
		if _, err := a.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("wrote %d bytes, want the %d written, in order", out.Len(), len(data))
	}
	if _, err := a.Write([]byte{1}); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

type failAfter struct{ n int }

var errDisk = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errDisk
	}
	f.n--
	return len(p), nil
}

func TestAsyncWriterReportsTheWriteError(t *testing.T) {
	a := NewAsyncWriter(&failAfter{n: 1}, 2)
	chunk := make([]byte, asyncBufSize)
	var err error
	for range 10 {
		if _, err = a.Write(chunk); err != nil {
			break
		}
	}
	if cerr := a.Close(); !errors.Is(cerr, errDisk) {
		t.Fatalf("Close = %v, want the write error", cerr)
	}
	if err != nil && !errors.Is(err, errDisk) {
		t.Fatalf("Write = %v, want the write error", err)
	}
}

func TestAsyncWriterEmptyStream(t *testing.T) {
	a := NewAsyncWriter(io.Discard, 2)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// TestPendingWriteErrorIsTheStores: a failed write of a Pending (here its
// file closed underneath, as a failing disk would refuse it) is ErrWrite, so
// that the downloader retries instead of blaming the media.
func TestPendingWriteErrorIsTheStores(t *testing.T) {
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Create(1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	if err := p.b.(*localFile).f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = writeThroughAsync(p)
	if !errors.Is(err, ErrWrite) {
		t.Fatalf("write error = %v, want ErrWrite", err)
	}
}

// writeThroughAsync writes through an AsyncWriter, as the downloader does
// for large media, and returns Close's error.
func writeThroughAsync(w io.Writer) (int, error) {
	a := NewAsyncWriter(w, 2)
	n, _ := a.Write(make([]byte, 10))
	return n, a.Close()
}
