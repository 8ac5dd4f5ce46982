package wamedia

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader yields n bytes cycling through a random block, cheaply.
type patternReader struct {
	block []byte
	off   int
	left  int64
}

func newPatternReader(n int64) *patternReader {
	return &patternReader{block: randBytes(1<<20+7, 42), left: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		c := copy(b[n:], p.block[p.off:])
		n += c
		p.off = (p.off + c) % len(p.block)
	}
	p.left -= int64(n)
	return n, nil
}

// streamThrough encrypts size bytes on the fly into a pipe and decrypts the
// other end to io.Discard, and checks that the heap stays bounded: the live
// heap never grows by more than 16 MiB and the bytes allocated during the
// whole run stay under 16 MiB (nothing proportional to the size).
func streamThrough(t *testing.T, size int64, parallel bool) {
	if testing.Short() {
		t.Skip("streams a large file; skipped with -short")
	}
	const bound = 16 << 20
	key := GenerateMediaKey()
	pr, pw := io.Pipe()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	})

	var encRes EncryptResult
	var encErr error
	wg.Go(func() {
		encRes, encErr = Encrypt(newPatternReader(size), pw, key, ClassVideo)
		pw.CloseWithError(encErr)
	})
	start := time.Now()
	// The hashes are not known before the blob is made: verify the MAC while
	// streaming and compare the hashes afterwards.
	res, err := Decrypt(pr, io.Discard, Params{MediaKey: key, Class: ClassVideo, OptionalHashes: true, Parallel: parallel})
	elapsed := time.Since(start)
	pr.Close()
	close(stop)
	wg.Wait()

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if encErr != nil || err != nil {
		t.Fatalf("encrypt: %v, decrypt: %v", encErr, err)
	}
	if res.PlainBytes != size || res.BlobBytes != BlobSize(size) || string(res.PlainSHA256) != string(encRes.FileSHA256) {
		t.Fatalf("bad result %+v", res)
	}
	growth := int64(peak.Load()) - int64(before.HeapAlloc)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB in %v (%.0f MB/s encrypt+decrypt pipelined); heap before %d KiB, peak growth %d KiB, allocated %d KiB",
		size>>20, elapsed.Round(time.Millisecond), float64(size)/elapsed.Seconds()/1e6, before.HeapAlloc>>10, growth>>10, allocated>>10)
	if growth > bound {
		t.Errorf("heap grew by %d bytes, want < %d", growth, bound)
	}
	if allocated > bound {
		t.Errorf("allocated %d bytes while streaming, want < %d", allocated, bound)
	}
}
