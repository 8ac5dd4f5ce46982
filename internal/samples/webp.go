package samples

import (
	"bytes"
	"encoding/binary"
)

// WebP returns a static w×h WebP sticker: a RIFF/WEBP container with one
// lossless (VP8L) bitstream of a single opaque colour.
func WebP(w, h int) []byte {
	return riffWebP(chunk("VP8L", vp8lSolid(w, h, 0xff, 0x25, 0xd3, 0x66)))
}

// AnimatedWebP returns an animated w×h WebP sticker of n frames: a VP8X
// header with the animation flag, an ANIM chunk, and one ANMF chunk per frame,
// each a lossless square moving across a w×h canvas.
func AnimatedWebP(w, h, n int) []byte {
	var body bytes.Buffer
	vp8x := make([]byte, 10)
	vp8x[0] = 0x02 // animation
	put24(vp8x[4:], uint32(w-1))
	put24(vp8x[7:], uint32(h-1))
	body.Write(chunk("VP8X", vp8x))

	anim := make([]byte, 6)
	binary.LittleEndian.PutUint32(anim, 0xffffffff) // background: opaque white (BGRA)
	// loop count 0: forever
	body.Write(chunk("ANIM", anim))

	side := min(w, h) / 4
	side -= side % 2
	colours := [][3]byte{{0xe5, 0x39, 0x35}, {0x43, 0xa0, 0x47}, {0x1e, 0x88, 0xe5}, {0xfd, 0xd8, 0x35}}
	for i := range n {
		x := (w - side) * i / max(n-1, 1)
		y := (h - side) * i / max(n-1, 1)
		x, y = x&^1, y&^1 // offsets are stored halved
		c := colours[i%len(colours)]
		hdr := make([]byte, 16)
		put24(hdr[0:], uint32(x/2))
		put24(hdr[3:], uint32(y/2))
		put24(hdr[6:], uint32(side-1))
		put24(hdr[9:], uint32(side-1))
		put24(hdr[12:], 100) // duration, ms
		hdr[15] = 0x00       // alpha-blend, do not dispose
		frame := append(hdr, chunk("VP8L", vp8lSolid(side, side, 0xff, c[0], c[1], c[2]))...)
		body.Write(chunk("ANMF", frame))
	}
	return riffWebP(body.Bytes())
}

func riffWebP(chunks []byte) []byte {
	out := make([]byte, 0, 12+len(chunks))
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(chunks)))
	out = append(out, "WEBP"...)
	return append(out, chunks...)
}

// chunk encodes a RIFF chunk, padded to an even length.
func chunk(fourcc string, data []byte) []byte {
	out := make([]byte, 0, 8+len(data)+1)
	out = append(out, fourcc...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func put24(b []byte, v uint32) {
	b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16)
}

// vp8lSolid encodes a w×h image of one ARGB colour as a VP8L bitstream: no
// transforms, no colour cache, no meta prefix codes, and five "simple" prefix
// codes of one symbol each. A one-symbol code has length zero, so the pixels
// themselves take no bits at all.
func vp8lSolid(w, h int, a, r, g, b byte) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	alpha := uint32(0)
	if a != 0xff {
		alpha = 1
	}
	bw.write(alpha, 1)
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	// Prefix codes in order: green (+length prefixes), red, blue, alpha, distance.
	for _, sym := range []byte{g, r, b, a, 0} {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // symbol coded on 8 bits
		bw.write(uint32(sym), 8)
	}
	return bw.bytes()
}

// bitWriter packs bits least-significant first, as VP8L reads them.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) write(v uint32, n uint) {
	w.acc |= uint64(v&(1<<n-1)) << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc, w.nacc = 0, 0
	}
	return w.buf
}
