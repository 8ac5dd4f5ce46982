package downloader

import (
	"time"

	"github.com/multichat/mediapipe/pkg/wamedia"
)

// LargeMedia exposes the large-file threshold to the tests.
const LargeMedia = largeMedia

// Classify exposes classify to the tests: the reason and the retry class.
func Classify(err error) (string, string) {
	r, c := classify(err)
	return string(r), [...]string{final: "final", verify: "verify", outage: "outage", ours: "ours"}[c]
}

// ExpiryOf is CDNExpiry of a descriptor with directPath and url.
func ExpiryOf(directPath, url string) (time.Time, bool) {
	return CDNExpiry(&wamedia.Descriptor{DirectPath: directPath, URL: url})
}
