package waproto

import (
	"encoding/hex"

	"github.com/multichat/mediapipe/pkg/internal/jsonscan"
)

// Bytes reads a bytes field in any of its encodings: a base64 string (standard
// or URL-safe, padded or not), an object keyed by index ({"0":91,"1":185,…},
// in any key order) or a Node Buffer ({"type":"Buffer","data":[91,185,…]}).
// It returns nil when the field is absent (null, "" or {}) and a non-nil
// empty slice when it is malformed: a number, an array, an index missing, repeated or
// out of range, a value that is not a byte, or an unknown member. It never
// guesses.
func (r Reader) Bytes() []byte {
	s := r.S
	switch s.Peek() {
	case '{':
		return r.object()
	case '[':
		s.Skip()
		return []byte{}
	}
	t, str := s.Scalar()
	switch {
	case str && len(t) == 0, !str && t == nil:
		return nil
	case !str:
		return []byte{}
	}
	return r.A.Base64(t)
}

// Hash reads a hash given in hex (64 digits, as Meta sometimes sends sha256)
// or in any encoding Bytes reads.
func (r Reader) Hash() []byte {
	s := r.S
	if s.Peek() == '"' {
		save := *s
		t, _ := s.Scalar()
		if len(t) == 64 {
			out := r.A.Alloc(32)
			if _, err := hex.Decode(out, t); err == nil {
				return out
			}
		}
		*s = save
	}
	return r.Bytes()
}

// object reads an index-keyed object or a Buffer.
func (r Reader) object() []byte {
	s := r.S
	s.Object()
	var (
		idx     byteTable
		buffer  []byte
		bufSeen bool
		typ     string
		bad     bool
		pairs   [64]uint32
	)
	// Index-keyed bytes in the usual shape are read by a tight loop; what
	// it leaves (another shape, a Buffer) is read member by member.
	fast, closed := s.IndexPairs(pairs[:0])
	for !closed {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch {
		case bad:
			s.Skip()
		case string(k) == "type":
			t, _ := s.Scalar()
			typ = string(t)
		case string(k) == "data":
			buffer, bad = r.array()
			bufSeen = true
		default:
			i, good := index(k)
			if !good {
				s.Skip()
			}
			if !good || !idx.set(i, s) {
				bad = true
			}
		}
	}
	switch {
	case bad, bufSeen && len(fast)+len(idx.more) > 0, bufSeen && typ != "" && typ != "Buffer", !bufSeen && typ != "":
		return []byte{}
	case bufSeen:
		if len(buffer) == 0 {
			return nil
		}
		return r.keep(buffer)
	case len(fast)+len(idx.more) == 0:
		return nil
	}
	b, ok := idx.bytes(fast, r.A)
	if !ok {
		return []byte{}
	}
	return b
}

// keep copies b into the arena when small.
func (r Reader) keep(b []byte) []byte {
	if len(b) > 64 {
		return b
	}
	out := r.A.Alloc(len(b))
	copy(out, b)
	return out
}

// array reads the data array of a Buffer, or a base64 string in its place.
func (r Reader) array() (b []byte, bad bool) {
	s := r.S
	switch s.Peek() {
	case '"':
		b := r.Bytes()
		return b, b != nil && len(b) == 0
	case '[':
	default:
		s.Skip()
		return nil, true
	}
	s.Array()
	b, closed := s.ByteArray(b)
	for !closed && s.Elem() {
		v, ok := byteValue(s)
		if !ok {
			bad = true
			continue
		}
		b = append(b, v)
	}
	return b, bad
}

// byteValue reads one value that must be an integer in 0..255 (a number or
// a string of digits, without leading zeros).
func byteValue(s *jsonscan.Scanner) (byte, bool) {
	if s.Peek() == '{' || s.Peek() == '[' {
		s.Skip()
		return 0, false
	}
	t, _ := s.Scalar()
	n, ok := jsonscan.ParseInt(t)
	if !ok || n < 0 || n > 255 || len(t) == 0 || t[0] == '-' || (t[0] == '0' && len(t) > 1) {
		return 0, false
	}
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, false // 1.5 or 1e2 is not a byte
		}
	}
	return byte(n), true
}

// index parses an object key that must be a decimal index: no sign, no
// leading zero, at most 9 digits.
func index(k []byte) (int, bool) {
	if len(k) == 0 || len(k) > 9 || (k[0] == '0' && len(k) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range k {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// byteTable collects an index-keyed object's members as index<<8 | value,
// and orders them once the object is read: memory stays proportional to the
// members actually sent, whatever indexes they claim.
type byteTable struct {
	more []uint32 // read member by member (those jsonscan.IndexPairs read stay apart, on the stack)
}

// maxIndex bounds an index (WhatsApp keys and hashes are 32 bytes,
// thumbnails a few KiB).
const maxIndex = 1<<24 - 1

// set reads the value of index i; it fails on an index out of range or a
// value that is not a byte.
func (t *byteTable) set(i int, s *jsonscan.Scanner) bool {
	v, ok := byteValue(s)
	if !ok || i > maxIndex {
		return false
	}
	t.more = append(t.more, uint32(i)<<8|uint32(v))
	return true
}

// bytes returns the bytes of fast and t's pairs in index order when the
// indexes are exactly 0..n-1, each once.
func (t *byteTable) bytes(fast []uint32, a *jsonscan.Arena) ([]byte, bool) {
	n := len(fast) + len(t.more)
	for _, pairs := range [2][]uint32{fast, t.more} {
		for _, p := range pairs {
			if int(p>>8) >= n {
				return nil, false // out of range, so some index is missing
			}
		}
	}
	out := a.Alloc(n)
	var low uint64
	var high []bool
	if n > 64 {
		high = make([]bool, n)
	}
	for _, pairs := range [2][]uint32{fast, t.more} {
		for _, p := range pairs {
			i := int(p >> 8)
			if n <= 64 {
				if low&(1<<i) != 0 {
					return nil, false // repeated, so some index is missing
				}
				low |= 1 << i
			} else {
				if high[i] {
					return nil, false
				}
				high[i] = true
			}
			out[i] = byte(p)
		}
	}
	return out, true
}
