// Package humanize formats quantities for people: the CLI's reports and the
// admin page use it, so both show a size the same way.
package humanize

import (
	"fmt"
	"strconv"
)

// Bytes renders a byte count in binary units with one decimal, e.g.
// "6.9 KiB", "2.4 MiB"; counts under 1 KiB (and negative ones) in bytes,
// e.g. "1023 B".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
