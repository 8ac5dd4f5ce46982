package jsonscan

import (
	"strings"
	"testing"
)

// TestArray: elements are visited in order whatever their type, and
// malformed arrays fail instead of looping.
func TestArray(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{`[]`, "", ""},
		{` [ 1 , "a" ,{"k":[2]}, null,[] ] `, "1|a|{}|null|[]", ""},
		{`null`, "", ""},
		{`[1,]`, "1|null", "unexpected character ']'"},
		{`[,1]`, "null", "unexpected character ','"},
		{`[1 2]`, "1", "expected ',' or ']'"},
		{`[1`, "1", "expected ',' or ']'"},
		{strings.Repeat("[", MaxDepth+1), "[]", "nesting deeper"},
	}
	for _, tt := range tests {
		s := New([]byte(tt.in))
		var got []string
		if s.Array() {
			for s.Elem() {
				switch s.Peek() {
				case '{':
					s.Skip()
					got = append(got, "{}")
				case '[':
					s.Skip()
					got = append(got, "[]")
				default:
					t, _ := s.Scalar()
					if t == nil {
						got = append(got, "null")
					} else {
						got = append(got, string(t))
					}
				}
			}
		}
		g := strings.Join(got, "|")
		errText := ""
		if s.Err() != nil {
			errText = s.Err().Reason
		}
		if g != tt.want || !strings.Contains(errText, tt.err) || (tt.err == "") != (s.Err() == nil) {
			t.Errorf("%q: %q, %q; want %q, %q", tt.in, g, errText, tt.want, tt.err)
		}
	}
}

// TestDocFirst: a field sent twice counts once, at its first occurrence.
func TestDocFirst(t *testing.T) {
	d := Doc{S: New([]byte(`{"a":"x","a":"y","b":{"c":1},"b":2}`))}
	var a, b string
	if !d.S.Begin() {
		t.Fatal(d.S.Err())
	}
	for k, ok := d.S.Key(); ok; k, ok = d.S.Key() {
		switch string(k) {
		case "a":
			d.StrOnce(1, &a)
		case "b":
			if d.First(2) {
				d.S.Skip()
				b = "object"
			}
		}
	}
	d.S.End()
	if d.S.Err() != nil || a != "x" || b != "object" {
		t.Fatalf("%q %q %v", a, b, d.S.Err())
	}
}

// TestIndexPairs: the tight loop reads the usual shape and stops, without
// consuming it, before any other member, so Key can go on from there.
func TestIndexPairs(t *testing.T) {
	tests := []struct {
		in     string
		pairs  []uint32
		closed bool
		rest   string // the keys Key reads after the loop
	}{
		{`{}`, nil, true, ""},
		{`{"0":91,"1":185}`, []uint32{91, 1<<8 | 185}, true, ""},
		{"{ \"10\" :\t7 ,\n\"2\": 0 }", []uint32{10<<8 | 7, 2 << 8}, true, ""},
		{`{"0":1,"type":"Buffer"}`, []uint32{1}, false, "type"},
		{`{"type":"Buffer","data":[1]}`, nil, false, "type,data"},
		{`{"0":1,"1":256}`, []uint32{1}, false, "1"},
		{`{"0":1-2}`, nil, false, "0"},
		{`{"0":1e2,"1":2}`, nil, false, "0,1"},
		{`{"00":1}`, nil, false, "00"},
		{`{"12345678":1}`, nil, false, "12345678"},
		{`{"1234567":1}`, []uint32{1234567<<8 | 1}, true, ""},
		{`{"0":"1"}`, nil, false, "0"},
	}
	for _, tt := range tests {
		s := New([]byte(tt.in))
		s.Object()
		pairs, closed := s.IndexPairs(nil)
		var rest []string
		for !closed {
			k, ok := s.Key()
			if !ok {
				break
			}
			rest = append(rest, string(k))
			s.Skip()
		}
		if s.End(); s.Err() != nil || closed != tt.closed || strings.Join(rest, ",") != tt.rest || len(pairs) != len(tt.pairs) {
			t.Errorf("%s: pairs %v closed %v rest %q err %v", tt.in, pairs, closed, rest, s.Err())
			continue
		}
		for i := range pairs {
			if pairs[i] != tt.pairs[i] {
				t.Errorf("%s: pairs %v, want %v", tt.in, pairs, tt.pairs)
			}
		}
	}
}

// TestByteArray: the tight loop reads byte values and stops, without
// consuming it, before any other element.
func TestByteArray(t *testing.T) {
	tests := []struct {
		in     string
		bytes  string
		closed bool
		rest   int // elements Elem reads after the loop
	}{
		{`[]`, "", true, 0},
		{"[ 1 ,2,\n255 ]", "\x01\x02\xff", true, 0},
		{`[1,256,2]`, "\x01", false, 2},
		{`[1,"2"]`, "\x01", false, 1},
		{`[01]`, "", false, 1},
		{`[1.5]`, "", false, 1},
		{`[1-2,3]`, "", false, 2},
	}
	for _, tt := range tests {
		s := New([]byte(tt.in))
		s.Array()
		got, closed := s.ByteArray(nil)
		rest := 0
		for !closed && s.Elem() {
			rest++
			s.Skip()
		}
		if s.End(); s.Err() != nil || string(got) != tt.bytes || closed != tt.closed || rest != tt.rest {
			t.Errorf("%s: %q closed %v rest %d err %v", tt.in, got, closed, rest, s.Err())
		}
	}
}
