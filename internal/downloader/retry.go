package downloader

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/fetch"
	"github.com/multichat/mediapipe/internal/reason"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// Defaults of the retry policy (see Downloader).
const (
	DefaultRetryHorizon      = 24 * time.Hour
	DefaultBackoffBase       = time.Second
	DefaultBackoffMax        = 15 * time.Minute
	DefaultMaxVerifyFailures = 8
	DefaultStoreRetry        = 5 * time.Second
	DefaultFallbackAfter     = 3
	DefaultFallbackWait      = 30 * time.Second
)

// class is what a failed attempt means for the media item.
type class int

const (
	// final: no retry can fix it (a verification failure of the content,
	// a 4xx, a forbidden host).
	final class = iota
	// verify: the blob may be at fault (enc_hash_mismatch, truncated): a
	// few attempts, MaxVerifyFailures.
	verify
	// outage: the way to the media failed (network, timeout, 5xx, 429):
	// retried over the horizon.
	outage
	// ours: something of ours failed (internal): retried over the horizon.
	ours
)

// classify maps a fetch, verification or other error onto its stable reason
// and retry class. wamedia sentinels and fetch kinds map onto
// internal/reason; anything else is ours (internal), never http_error.
func classify(err error) (reason.Reason, class) {
	if r := wamedia.Reason(err); r != "" {
		if wamedia.Transient(err) {
			return reason.Reason(r), verify
		}
		return reason.Reason(r), final
	}
	var fe *fetch.Error
	if errors.As(err, &fe) {
		r, transient := fe.FailureReason()
		switch {
		case !transient:
			return r, final
		case fetch.Outage(err):
			return r, outage
		}
		return r, verify // truncated
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return reason.Truncated, verify
	case errors.Is(err, context.DeadlineExceeded):
		return reason.Timeout, outage
	}
	if r, ok := reason.Of(err); ok {
		if reason.Transient(err) {
			return r, outage
		}
		return r, final
	}
	return reason.Internal, ours
}

// transfer reports whether r is a transfer failure (what an outage gives).
func transfer(r string) bool {
	return r == string(reason.Timeout) || r == string(reason.HTTPError)
}

// orDefault returns v when it is set (positive), else def.
func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (d *Downloader) horizon() time.Duration { return orDefault(d.RetryHorizon, DefaultRetryHorizon) }
func (d *Downloader) maxVerify() int         { return orDefault(d.MaxVerifyFailures, DefaultMaxVerifyFailures) }
func (d *Downloader) storeRetry() time.Duration {
	return orDefault(d.StoreRetry, DefaultStoreRetry)
}
func (d *Downloader) fallbackAfter() int { return orDefault(d.FallbackAfter, DefaultFallbackAfter) }
func (d *Downloader) fallbackWait() time.Duration {
	return orDefault(d.FallbackWait, DefaultFallbackWait)
}

// deadline is when row's retries end: its first attempt plus the horizon,
// and never past the CDN expiry of its URL (oe) when it has one.
func (d *Downloader) deadline(row *catalog.DownloadRow, now time.Time) time.Time {
	first := row.FirstAttempt
	if first.IsZero() {
		first = now
	}
	end := first.Add(d.horizon())
	if oe, ok := CDNExpiry(&row.Descriptor); ok && oe.Before(end) {
		end = oe
	}
	return end
}

// backoff is the delay before attempt n+1 after n failed ones: exponential
// from BackoffBase, capped at BackoffMax, with jitter (a uniform draw from
// the upper half, so that items failed together spread out).
func (d *Downloader) backoff(n int) time.Duration {
	base, ceiling := orDefault(d.BackoffBase, DefaultBackoffBase), orDefault(d.BackoffMax, DefaultBackoffMax)
	limit := base
	for i := 1; i < n && limit < ceiling; i++ {
		limit *= 2
	}
	return jitter(min(limit, ceiling))
}

// jitter draws a delay from [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// CDNExpiry returns the expiry WhatsApp signed into the media's URL: the oe
// query parameter of its directPath (else of its url), hexadecimal unix
// seconds. Values that cannot be a date of this century are ignored.
func CDNExpiry(desc *wamedia.Descriptor) (time.Time, bool) {
	for _, raw := range []string{desc.DirectPath, desc.URL} {
		_, query, ok := strings.Cut(raw, "?")
		if !ok {
			continue
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			continue
		}
		oe := q.Get("oe")
		if oe == "" || len(oe) > 12 {
			continue
		}
		secs, err := strconv.ParseInt(oe, 16, 64)
		if err != nil || secs < 946684800 || secs > 4102444800 { // 2000 to 2100
			continue
		}
		return time.Unix(secs, 0), true
	}
	return time.Time{}, false
}
