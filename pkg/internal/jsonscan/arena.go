package jsonscan

import (
	"bytes"
	"encoding/base64"
	"unsafe"
)

// Arena hands out the strings and small byte slices of one decoded event from
// a few shared blocks, so an event costs a couple of allocations instead of
// one per field. Bytes written to a block are never written again (appends go
// past every slice already handed out, and a full block is replaced, not
// grown), which is what makes the unsafe.String views sound.
type Arena struct {
	buf []byte
}

const arenaBlock = 512

func (a *Arena) reserve(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(n, arenaBlock))
	}
}

// Text returns the JSON string content raw, unescaped, as a string that does
// not alias the input.
func (a *Arena) Text(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	a.reserve(len(raw)) // unescaping never lengthens
	start := len(a.buf)
	a.buf = Unescape(a.buf, raw)
	return a.view(start)
}

// Copy returns b, already unescaped (an object key), as a string.
func (a *Arena) Copy(b []byte) string {
	a.reserve(len(b))
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.view(start)
}

// Concat returns x+y from the Arena.
func (a *Arena) Concat(x, y string) string {
	a.reserve(len(x) + len(y))
	start := len(a.buf)
	a.buf = append(append(a.buf, x...), y...)
	return a.view(start)
}

func (a *Arena) view(start int) string {
	if len(a.buf) == start {
		return ""
	}
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

// Base64 decodes raw (the content of a JSON string) as standard base64,
// padded or not, or its URL-safe variant. Malformed input gives a non-nil
// empty slice, so that wamedia's Check reports the field as malformed rather
// than missing. Slices of up to 64 bytes come from a shared block with their
// capacity clipped.
func (a *Arena) Base64(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') >= 0 { // JSON escapes (e.g. "\/") are legal, if unusual
		raw = Unescape(nil, raw)
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

// Offer hands the arena a fresh block to use when the one it holds has less
// than half of block's size free: callers embed a block in a structure they
// allocate anyway (the event, its first media item), saving an allocation.
func (a *Arena) Offer(block []byte) {
	if cap(a.buf)-len(a.buf) < len(block)/2 {
		a.buf = block[:0:len(block)]
	}
}

// Alloc returns a zeroed slice of n bytes with its capacity clipped, from the
// shared block when n is at most 64 bytes.
func (a *Arena) Alloc(n int) []byte {
	if n > 64 {
		return make([]byte, n)
	}
	a.reserve(n)
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	clear(a.buf[start:])
	return a.buf[start : start+n : start+n]
}

// JID returns the WhatsApp JID of a chat or sender id: bare digits (a leading
// + dropped) gain @s.whatsapp.net, an old-style group id (digits-digits)
// gains @g.us, "status" becomes status@broadcast, and ids that already have a
// server (@g.us, @lid, ...) are kept as they are.
func (a *Arena) JID(id string) string {
	switch id {
	case "":
		return ""
	case "status", "status@broadcast":
		return "status@broadcast"
	}
	digits, dash := 0, 0
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' && i > 0 && i < len(id)-1 && dash == 0:
			dash++
		case c == '+' && i == 0:
		default:
			return id // has a server, or is not an id we know how to complete
		}
	}
	if digits == 0 {
		return id
	}
	if id[0] == '+' {
		id = id[1:]
	}
	if dash > 0 {
		return a.Concat(id, "@g.us")
	}
	return a.Concat(id, "@s.whatsapp.net")
}
