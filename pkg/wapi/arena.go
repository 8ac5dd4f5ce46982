package wapi

import (
	"bytes"
	"encoding/base64"
	"unsafe"
)

// arena hands out the strings and small byte slices of one decoded event from
// a few shared blocks, so an event costs a couple of allocations instead of
// one per field. Bytes written to a block are never written again (appends go
// past every slice already handed out, and a full block is replaced, not
// grown), which is what makes the unsafe.String views sound.
type arena struct {
	buf []byte
}

const arenaBlock = 512

func (a *arena) reserve(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(n, arenaBlock))
	}
}

// text returns the JSON string content raw, unescaped, as a string that does
// not alias the input.
func (a *arena) text(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	a.reserve(len(raw)) // unescaping never lengthens
	start := len(a.buf)
	a.buf = unescape(a.buf, raw)
	return a.view(start)
}

// copy returns b, already unescaped (an object key), as a string.
func (a *arena) copy(b []byte) string {
	a.reserve(len(b))
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.view(start)
}

// concat returns x+y from the arena.
func (a *arena) concat(x, y string) string {
	a.reserve(len(x) + len(y))
	start := len(a.buf)
	a.buf = append(append(a.buf, x...), y...)
	return a.view(start)
}

func (a *arena) view(start int) string {
	if len(a.buf) == start {
		return ""
	}
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

// base64 decodes raw (the content of a JSON string) as standard base64,
// padded or not, or its URL-safe variant. Malformed input gives a non-nil
// empty slice, so that wamedia's Check reports the field as malformed rather
// than missing. Slices of up to 64 bytes come from a shared block with their
// capacity clipped.
func (a *arena) base64(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') >= 0 { // JSON escapes (e.g. "\/") are legal, if unusual
		raw = unescape(nil, raw)
	}
	for len(raw) > 0 && raw[len(raw)-1] == '=' {
		raw = raw[:len(raw)-1]
	}
	enc := base64.RawStdEncoding
	if bytes.IndexByte(raw, '-') >= 0 || bytes.IndexByte(raw, '_') >= 0 {
		enc = base64.RawURLEncoding
	}
	n := enc.DecodedLen(len(raw))
	var dst []byte
	if n <= 64 {
		a.reserve(n)
		dst = a.buf[len(a.buf) : len(a.buf)+n]
	} else {
		dst = make([]byte, n)
	}
	m, err := enc.Decode(dst, raw)
	if err != nil {
		return []byte{}
	}
	if n <= 64 {
		a.buf = a.buf[:len(a.buf)+m]
	}
	return dst[:m:m]
}
