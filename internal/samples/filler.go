package samples

import (
	"encoding/binary"
	"io"
)

// Random returns size deterministic pseudo-random bytes for seed: the same
// arguments always give the same bytes.
func Random(size int, seed int64) []byte {
	b := make([]byte, size)
	f := NewFiller(seed)
	_, _ = io.ReadFull(f, b) // never fails
	return b
}

// fillerBlock is the size of the pseudo-random block a Filler repeats.
const fillerBlock = 64 << 10

// Filler is an endless reader of deterministic pseudo-random bytes: a 64 KiB
// xorshift64* block, repeated with a different rotation each time (the
// stream only repeats after 4 GiB). Reading is a copy, fast even under the
// race detector; the bytes are incompressible enough to defeat transparent
// compression.
type Filler struct {
	block []byte
	pos   int64
}

// NewFiller returns a Filler for seed.
func NewFiller(seed int64) *Filler {
	x := uint64(seed)*0x9e3779b97f4a7c15 + 0x2545f4914f6cdd1d
	if x == 0 {
		x = 1
	}
	b := make([]byte, fillerBlock)
	for i := 0; i < fillerBlock; i += 8 {
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		binary.LittleEndian.PutUint64(b[i:], x*0x2545f4914f6cdd1d)
	}
	return &Filler{block: b}
}

// Read fills p; it never returns an error.
func (f *Filler) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		off := int(f.pos % fillerBlock)
		rot := int(f.pos / fillerBlock * 4099 % fillerBlock) // 4099 is odd: every rotation occurs
		src := (off + rot) % fillerBlock
		c := min(fillerBlock-off, fillerBlock-src, len(p)-n)
		copy(p[n:n+c], f.block[src:src+c])
		n += c
		f.pos += int64(c)
	}
	return n, nil
}
