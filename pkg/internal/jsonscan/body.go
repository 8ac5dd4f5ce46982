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

// Len returns the length of the input, a bound for what a well-formed value
// in it can hold.
func (s *Scanner) Len() int { return len(s.b) }

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
