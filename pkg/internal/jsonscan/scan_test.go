package jsonscan

import (
	"strings"
	"testing"
)

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"7104", 7104, true}, {"-12", -12, true}, {"+5", 5, true},
		{"9223372036854775807", 9223372036854775807, true}, {"9223372036854775808", 0, false},
		{"12.9", 12, true}, {"1e3", 1000, true}, {"-2.5", -2, true},
		{"", 0, false}, {"-", 0, false}, {"abc", 0, false}, {"12abc", 0, false}, {"1e400", 0, false}, {"NaN", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseInt([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := map[string]string{
		`plain`:                    "plain",
		`a\"b\\c\/d`:               `a"b\c/d`,
		`\b\f\n\r\t`:               "\b\f\n\r\t",
		`\u00e9\u4e2d`:             "é中",
		`\ud83d\ude00`:             "😀",
		`\ud83dx`:                  "\uFFFDx",
		`\ude00`:                   "\uFFFD",
		`\ud83d\u0041`:             "\uFFFD" + "A",
		`\u12`:                     `\u12`,
		`\uZZZZ`:                   `\uZZZZ`,
		`\q`:                       `\q`,
		`end\`:                     `end\`,
		strings.Repeat(`\n`, 3000): strings.Repeat("\n", 3000),
	}
	for in, want := range tests {
		got := string(Unescape(nil, []byte(in)))
		if got != want {
			t.Errorf("Unescape(%.30q) = %.30q, want %.30q", in, got, want)
		}
		if len(got) > len(in) {
			t.Errorf("Unescape(%.30q) grew", in)
		}
	}
}
