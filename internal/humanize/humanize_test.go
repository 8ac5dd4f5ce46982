package humanize

import "testing"

func TestBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{
		-5: "-5 B", 0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 7104: "6.9 KiB", 123456: "120.6 KiB",
		1<<20 - 1: "1024.0 KiB", 1 << 20: "1.0 MiB", 2482015: "2.4 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB",
		7 << 50: "7.0 PiB", 1 << 62: "4.0 EiB", 1<<63 - 1: "8.0 EiB",
	} {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", in, got, want)
		}
	}
}
