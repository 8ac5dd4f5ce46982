package jsonscan

import "time"

// New returns a Scanner at the start of b.
func New(b []byte) Scanner { return Scanner{b: b} }

// Err returns the first syntax error met, or nil.
func (s *Scanner) Err() *SyntaxError { return s.err }

// Begin opens the top-level object of a webhook body. It reports false, with
// the error set, when the body is empty or holds another type of value.
func (s *Scanner) Begin() bool {
	switch c := s.Peek(); c {
	case '{':
		return s.Object()
	case 0:
		s.Fail("empty body, want a JSON object")
	default:
		s.Skip()
		if s.err == nil {
			s.i = 0
			s.Fail("want a JSON object, found " + jsonType(c))
		}
	}
	return false
}

// End checks that nothing but white space follows the top-level object.
func (s *Scanner) End() {
	if s.Peek() != 0 {
		s.Fail("unexpected data after the JSON object")
	}
}

func jsonType(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// Array starts reading an array value: it reports whether one was opened.
// Any other value (null included) is consumed and false returned.
func (s *Scanner) Array() bool { return s.open('[') }

// Elem reports whether another element follows in the array being read,
// leaving the cursor on it; it returns false once the array is closed. The
// caller must consume the element before calling Elem again.
func (s *Scanner) Elem() bool {
	c := s.Peek()
	if c == ']' {
		s.i++
		s.depth--
		s.fresh = false
		return false
	}
	if !s.fresh {
		if c != ',' {
			s.Fail("expected ',' or ']' after array element")
			return false
		}
		s.i++
		c = s.Peek()
	}
	s.fresh = false
	if c == 0 {
		s.Fail("unexpected end of input")
		return false
	}
	return s.err == nil
}

// Epoch converts a Unix time in seconds, or in milliseconds when above 1e12,
// to UTC; zero when absent or not positive.
func Epoch(n int64, ok bool) time.Time {
	if !ok || n <= 0 {
		return time.Time{}
	}
	if n > 1e12 {
		return time.UnixMilli(n).UTC()
	}
	return time.Unix(n, 0).UTC()
}

// Doc is a body being decoded: its Scanner, the Arena its strings come from,
// and which fields were read already, so that a field sent twice counts once,
// at its first occurrence, whatever reads it (Peek and Decode agree).
type Doc struct {
	S    Scanner
	A    Arena
	seen uint64
}

// First reports whether the field of bit f is met for the first time; when
// it is not, its value is skipped.
func (d *Doc) First(f uint64) bool {
	if d.seen&f != 0 {
		d.S.Skip()
		return false
	}
	d.seen |= f
	return true
}

// Str reads a string (or the text of a number or literal) as a copy; other
// values read as "".
func (d *Doc) Str() string {
	t, _ := d.S.Scalar()
	return d.A.Text(t)
}

// StrOnce reads a string into *dst at the first occurrence of the field of
// bit f, and skips the value at the others.
func (d *Doc) StrOnce(f uint64, dst *string) {
	if d.First(f) {
		*dst = d.Str()
	}
}

// IndexPairs reads, in one tight loop, the members of the object being read
// that have the shape Evolution gives bytes: a key of 1 to 7 decimal digits
// and a value of 1 to 3 digits, e.g. "17": 200. Each is appended to dst as
// index<<8 | value (values above 255 stop the loop). It stops before the
// first member of another shape, leaving it to Key (closed false), or after
// the object's closing brace (closed true). It accepts only what Skip
// accepts, so a body reads the same whichever way it is read.
func (s *Scanner) IndexPairs(dst []uint32) (pairs []uint32, closed bool) {
	b := s.b
	for {
		j := skipWS(b, s.i)
		if j < len(b) && b[j] == '}' {
			s.i, s.fresh = j+1, false
			s.depth--
			return dst, true
		}
		if !s.fresh {
			if j >= len(b) || b[j] != ',' {
				return dst, false
			}
			j = skipWS(b, j+1)
		}
		if j >= len(b) || b[j] != '"' {
			return dst, false
		}
		j++
		start, k := j, 0
		for j < len(b) && j-start < 7 && b[j] >= '0' && b[j] <= '9' {
			k = k*10 + int(b[j]-'0')
			j++
		}
		if j == start || j >= len(b) || b[j] != '"' || (b[start] == '0' && j-start > 1) {
			return dst, false
		}
		j = skipWS(b, j+1)
		if j >= len(b) || b[j] != ':' {
			return dst, false
		}
		j = skipWS(b, j+1)
		start, v := j, 0
		for j < len(b) && j-start < 3 && b[j] >= '0' && b[j] <= '9' {
			v = v*10 + int(b[j]-'0')
			j++
		}
		if j == start || v > 255 || j >= len(b) || numberByte(b[j]) {
			return dst, false
		}
		dst = append(dst, uint32(k)<<8|uint32(v))
		s.i, s.fresh = j, false
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// numberByte reports whether c continues a number as Skip reads one.
func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// ByteArray reads, in one tight loop, the elements of the array being read
// that are plain byte values (0 to 255 in at most 3 digits, e.g. a Node
// Buffer's data), appending them to dst. It stops before the first element of
// another shape, leaving it to Elem (closed false), or after the closing
// bracket (closed true). Like IndexPairs it accepts only what Skip accepts.
func (s *Scanner) ByteArray(dst []byte) (out []byte, closed bool) {
	b := s.b
	for {
		j := skipWS(b, s.i)
		if j < len(b) && b[j] == ']' {
			s.i, s.fresh = j+1, false
			s.depth--
			return dst, true
		}
		if !s.fresh {
			if j >= len(b) || b[j] != ',' {
				return dst, false
			}
			j = skipWS(b, j+1)
		}
		start, v := j, 0
		for j < len(b) && j-start < 3 && b[j] >= '0' && b[j] <= '9' {
			v = v*10 + int(b[j]-'0')
			j++
		}
		if j == start || v > 255 || (b[start] == '0' && j-start > 1) || j >= len(b) || numberByte(b[j]) {
			return dst, false
		}
		dst = append(dst, byte(v))
		s.i, s.fresh = j, false
	}
}
