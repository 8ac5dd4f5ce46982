package jsonscan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of JSON objects and arrays a Scanner accepts.
// Real webhooks nest about fifteen levels; deeper input is rejected before it
// costs anything.
const MaxDepth = 512

// SyntaxError reports a webhook body that is not a JSON object.
type SyntaxError struct {
	Offset int    // byte offset where the problem was found
	Reason string // what was wrong there
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid webhook JSON at byte %d: %s", e.Offset, e.Reason)
}

// Scanner is a single-pass JSON reader over one input. It reads only the
// values the caller asks for and skips the rest while checking their
// structure. It never recurses on its own (Skip keeps an explicit stack), so
// hostile nesting costs no stack and no allocation; the first error is kept
// and moves the cursor to the end, so every loop of a caller terminates.
//
// Strings are not checked for control characters or bad escapes unless they
// are read: tolerance over strictness, as for the rest of the webhook.
type Scanner struct {
	b     []byte
	i     int
	depth int
	fresh bool // an object was just opened: no member read yet
	err   *SyntaxError
	kbuf  []byte // the last unescaped key
}

// Fail records reason at the cursor as the input's syntax error (the first one
// wins) and moves the cursor to the end, so every reading loop ends.
func (s *Scanner) Fail(reason string) {
	if s.err == nil {
		s.err = &SyntaxError{Offset: s.i, Reason: reason}
	}
	s.i = len(s.b)
}

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Peek skips white space and returns the next byte, 0 at the end.
func (s *Scanner) Peek() byte {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return s.b[s.i]
	}
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *Scanner) push() bool {
	s.depth++
	if s.depth > MaxDepth {
		s.Fail(fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
		return false
	}
	return true
}

// rawString consumes the string at the cursor (which is on its opening
// quote) and returns its content, escapes untouched; esc is false when the
// content surely holds no escape.
func (s *Scanner) rawString() (content []byte, esc bool) {
	start := s.i + 1
	end, esc := stringEnd(s.b, start)
	if end < 0 {
		s.Fail("unterminated string")
		return nil, false
	}
	s.i = end + 1
	return s.b[start:end], esc
}

// stringEnd returns the index of the quote closing the string whose content
// starts at b[start] (the first quote not escaped by an odd run of
// backslashes), or -1. esc is false when the content surely holds no
// backslash.
func stringEnd(b []byte, start int) (end int, esc bool) {
	// Keys and most values are short: a loop over eight bytes at a time
	// beats IndexByte's setup. Long strings go to IndexByte.
	j, limit := start, min(len(b), start+32)
	for ; j+8 <= limit; j += 8 {
		x := binary.LittleEndian.Uint64(b[j:])
		if m := hasByte(x, '"') | hasByte(x, '\\'); m != 0 {
			j += bits.TrailingZeros64(m) / 8
			break
		}
	}
	for ; j < limit; j++ {
		switch b[j] {
		case '"':
			return j, false
		case '\\':
			esc = true
			goto slow
		}
	}
	// Past 32 bytes with neither a quote nor a backslash (j > start).
	if k := bytes.IndexByte(b[j:], '"'); k >= 0 && b[j+k-1] != '\\' {
		return j + k, true // unchecked bytes: may hold escapes
	}
	esc = true
slow:
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1, esc
		}
		q := j + k
		n := 0
		for p := q - 1; p >= start && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q, esc
		}
		j = q + 1
	}
}

// number consumes a number and returns its text.
func (s *Scanner) number() []byte {
	start := s.i
	digits := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' {
			digits = true
		} else if c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		s.i++
	}
	if !digits {
		s.i = start
		if start < len(s.b) {
			s.Fail(fmt.Sprintf("unexpected character %q", s.b[start]))
		} else {
			s.Fail("unexpected end of input")
		}
		return nil
	}
	return s.b[start:s.i]
}

func (s *Scanner) literal(word string) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.Fail("invalid literal, want " + word)
		return
	}
	s.i += len(word)
}

// Skip consumes one value of any type, checking its structure.
func (s *Scanner) Skip() {
	switch s.Peek() {
	case '"':
		s.rawString()
	case '{', '[':
		s.skipContainer()
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	case 0:
		s.Fail("unexpected end of input")
	default:
		s.number()
	}
}

// skipContainer consumes an object or an array. It is the hot loop of
// skipping, so it keeps its state in locals and an explicit stack (a bit per
// level: object or array) instead of recursing.
func (s *Scanner) skipContainer() {
	const (
		wantValue = iota
		wantKey
		afterValue
	)
	b, i, depth := s.b, s.i, s.depth
	var stack [MaxDepth/64 + 1]uint64
	lvl, st := 0, wantValue
	var reason string
loop:
	for {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
			i++
		}
		if i >= len(b) {
			reason = "unexpected end of input"
			break loop
		}
		c := b[i]
		switch st {
		case wantValue:
			switch c {
			case '{', '[':
				depth++
				if depth > MaxDepth {
					reason = fmt.Sprintf("nesting deeper than %d levels", MaxDepth)
					break loop
				}
				if c == '{' {
					stack[lvl/64] |= 1 << (lvl % 64)
					st = wantKey
				} else {
					stack[lvl/64] &^= 1 << (lvl % 64)
				}
				lvl++
				i++
				continue
			case '"':
				end, _ := stringEnd(b, i+1)
				if end < 0 {
					reason = "unterminated string"
					break loop
				}
				i = end + 1
			case 't', 'f', 'n':
				w := "null"
				if c == 't' {
					w = "true"
				} else if c == 'f' {
					w = "false"
				}
				if !bytes.HasPrefix(b[i:], []byte(w)) {
					reason = "invalid literal, want " + w
					break loop
				}
				i += len(w)
			case ']':
				// An empty array: "[" then "]".
				if lvl == 0 || stack[(lvl-1)/64]&(1<<((lvl-1)%64)) != 0 || b[i-1] != '[' && !emptyBefore(b, i) {
					reason = fmt.Sprintf("unexpected character %q", c)
					break loop
				}
				i++
				lvl--
				depth--
			default:
				start, digits := i, false
				for ; i < len(b); i++ {
					if d := b[i]; d >= '0' && d <= '9' {
						digits = true
					} else if d != '-' && d != '+' && d != '.' && d != 'e' && d != 'E' {
						break
					}
				}
				if !digits {
					i = start
					reason = fmt.Sprintf("unexpected character %q", c)
					break loop
				}
			}
			st = afterValue
		case wantKey:
			if c == '}' && (b[i-1] == '{' || emptyBefore(b, i)) { // an empty object
				i++
				lvl--
				depth--
				st = afterValue
				break
			}
			if c != '"' {
				reason = "expected a string as object key"
				break loop
			}
			end, _ := stringEnd(b, i+1)
			if end < 0 {
				reason = "unterminated string"
				break loop
			}
			i = end + 1
			for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
				i++
			}
			if i >= len(b) || b[i] != ':' {
				reason = "expected ':' after object key"
				break loop
			}
			i++
			st = wantValue
		case afterValue:
			obj := stack[(lvl-1)/64]&(1<<((lvl-1)%64)) != 0
			switch {
			case c == ',' && obj:
				st = wantKey
			case c == ',':
				st = wantValue
			case c == '}' && obj, c == ']' && !obj:
				lvl--
				depth--
			default:
				reason = "expected ',' or ']' after array element"
				if obj {
					reason = "expected ',' or '}' after object member"
				}
				break loop
			}
			i++
		}
		if lvl == 0 {
			s.i, s.depth = i, depth
			return
		}
	}
	s.i = i
	s.Fail(reason)
}

// hasByte sets the high bit of the bytes of x equal to c. Above the lowest
// set bit there may be false positives; the lowest is exact.
func hasByte(x uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	y := x ^ (lo * uint64(c))
	return (y - lo) &^ y & hi
}

// emptyBefore reports whether only white space separates b[i] from the
// bracket before it, i.e. the container closing at i is empty.
func emptyBefore(b []byte, i int) bool {
	for i--; i >= 0; i-- {
		switch b[i] {
		case ' ', '\n', '\r', '\t':
		case '{', '[':
			return true
		default:
			return false
		}
	}
	return false
}

// Object starts reading an object value: it reports whether one was opened.
// Any other value (null included) is consumed and false returned, so a
// caller tolerates `null` or a wrong type where an object was expected.
func (s *Scanner) Object() bool { return s.open('{') }

// open enters the container opening with c at the cursor, or consumes the
// value there and reports false.
func (s *Scanner) open(c byte) bool {
	if s.Peek() != c {
		s.Skip()
		return false
	}
	s.i++
	if !s.push() {
		return false
	}
	s.fresh = true
	return true
}

// Key reads the next member key of the object being read and the colon after
// it; it returns false once the object is closed. The caller must consume the
// member's value before calling Key again. The returned bytes are valid until
// the next call to Key.
func (s *Scanner) Key() ([]byte, bool) {
	c := s.Peek()
	if c == '}' {
		s.i++
		s.depth--
		s.fresh = false
		return nil, false
	}
	if !s.fresh {
		if c != ',' {
			s.Fail("expected ',' or '}' after object member")
			return nil, false
		}
		s.i++
		c = s.Peek()
	}
	s.fresh = false
	if c != '"' {
		if c == 0 {
			s.Fail("unexpected end of input")
			return nil, false
		}
		s.Fail("expected a string as object key")
		return nil, false
	}
	k, esc := s.rawString()
	if s.Peek() != ':' {
		s.Fail("expected ':' after object key")
		return nil, false
	}
	s.i++
	if esc && bytes.IndexByte(k, '\\') >= 0 {
		s.kbuf = Unescape(s.kbuf[:0], k)
		k = s.kbuf
	}
	return k, s.err == nil
}

// Scalar consumes a value and returns the text of a string (raw, escapes
// untouched), a number or a literal; str tells a string from the rest.
// Objects and arrays are skipped and reported as absent (nil).
func (s *Scanner) Scalar() (text []byte, str bool) {
	switch s.Peek() {
	case '"':
		t, _ := s.rawString()
		return t, true
	case '{', '[', 0:
		s.Skip()
		return nil, false
	case 't':
		s.literal("true")
		return []byte("true"), false
	case 'f':
		s.literal("false")
		return []byte("false"), false
	case 'n':
		s.literal("null")
		return nil, false
	}
	return s.number(), false
}

// Integer reads a number, a string of digits, or a protobuf Long rendered as
// {"low":..,"high":..}. Other values are consumed and reported as absent.
func (s *Scanner) Integer() (int64, bool) {
	if s.Peek() == '{' {
		return s.long()
	}
	t, _ := s.Scalar()
	return ParseInt(bytes.TrimSpace(t))
}

func (s *Scanner) long() (int64, bool) {
	var low, high int64
	var ok bool
	if !s.Object() {
		return 0, false
	}
	for k, more := s.Key(); more; k, more = s.Key() {
		t, _ := s.Scalar()
		n, good := ParseInt(t)
		switch string(k) {
		case "low":
			low, ok = n, good
		case "high":
			high = n
		}
	}
	return high<<32 | int64(uint32(low)), ok
}

// Boolean reads true/false, "true"/"false", or a number (non-zero is true).
func (s *Scanner) Boolean() bool {
	switch s.Peek() {
	case 't':
		s.literal("true")
		return true
	case 'f':
		s.literal("false")
		return false
	}
	t, _ := s.Scalar()
	switch string(t) {
	case "true", "1", "TRUE", "True":
		return true
	case "", "false", "0", "FALSE", "False":
		return false
	}
	n, ok := ParseInt(t)
	return ok && n != 0
}

// ParseInt parses a decimal integer without allocating; decimals and exponents
// are truncated toward zero. It fails on anything else or on overflow.
func ParseInt(t []byte) (int64, bool) {
	if len(t) == 0 {
		return 0, false
	}
	neg := false
	digits := t
	if digits[0] == '-' || digits[0] == '+' {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	var n uint64
	for i, c := range digits {
		if c < '0' || c > '9' {
			return parseFloatInt(t, i)
		}
		d := uint64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

func parseFloatInt(t []byte, at int) (int64, bool) {
	if at == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil || math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// Unescape appends the JSON string content raw to dst with its escapes
// resolved. Invalid escapes are kept as they are; lone surrogates become
// U+FFFD. The result is never longer than raw.
func Unescape(dst, raw []byte) []byte {
	for {
		n := bytes.IndexByte(raw, '\\')
		if n < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:n]...)
		raw = raw[n:]
		if len(raw) < 2 {
			return append(dst, raw...)
		}
		switch c := raw[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[2:])
			if !ok {
				dst = append(dst, raw[:2]...)
				break
			}
			used := 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if len(raw) >= 12 && raw[6] == '\\' && raw[7] == 'u' {
					r2, ok2 = hex4(raw[8:])
				}
				if d := utf16.DecodeRune(r, r2); ok2 && d != utf8.RuneError {
					r, used = d, 12
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			raw = raw[used:]
			continue
		default:
			dst = append(dst, raw[:2]...)
		}
		raw = raw[2:]
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
