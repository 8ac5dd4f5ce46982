package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/multichat/mediapipe/internal/reason"
)

// The kinds of fetch failure. Every error the package returns is an *Error
// whose Kind is one of these, so errors.Is(err, ErrExpired) and friends work
// through any wrapping; Reason and Transient map a kind to the stable reasons
// (internal/reason) and to the retry decision.
var (
	// ErrExpired means the CDN answered 403, 404 or 410: the media is expired
	// or gone. The caller tries the W-API fallback once, then marks `expired`.
	ErrExpired = errors.New("media expired or gone")
	// ErrForbiddenHost means a URL, a redirect or a resolved address is not
	// one the fetcher may connect to. Reason `http_error`; never retried.
	ErrForbiddenHost = errors.New("host not allowed")
	// ErrNoLocation means the descriptor has no usable directPath or url.
	// Reason `missing_fields`; never retried.
	ErrNoLocation = errors.New("no usable media location")
	// ErrTooLarge means the blob is bigger than MaxBytes, by Content-Length or
	// while streaming. Reason `too_large`; never retried.
	ErrTooLarge = errors.New("media too large")
	// ErrTimeout covers the connect, TLS, response header, idle and overall
	// deadlines, HTTP 408, and the caller's context ending. Reason `timeout`;
	// transient.
	ErrTimeout = errors.New("timed out")
	// ErrRateLimited is HTTP 429; RetryAfter reports the server's wish.
	// Reason `http_error`; transient.
	ErrRateLimited = errors.New("rate limited")
	// ErrServer is a 5xx answer. Reason `http_error`; transient.
	ErrServer = errors.New("server error")
	// ErrNetwork is a connection that failed or was reset. Reason
	// `http_error`; transient.
	ErrNetwork = errors.New("network error")
	// ErrTruncated is a body that ended before its Content-Length. Reason
	// `truncated`; transient.
	ErrTruncated = errors.New("body truncated")
	// ErrStatus is any other unexpected answer (4xx, a redirect loop).
	// Reason `http_error`; never retried.
	ErrStatus = errors.New("unexpected HTTP answer")
	// ErrFallbackFailed wraps whatever made the W-API download-media
	// fallback fail. Reason `expired`; never retried.
	ErrFallbackFailed = errors.New("W-API fallback failed")
	// ErrCircuitOpen means the host failed too many times in a row and the
	// fetcher does not try it again until its cool-down passed (see
	// Breaker); RetryAfter says when. Reason `http_error`; transient. No
	// request was sent.
	ErrCircuitOpen = errors.New("host unreachable: circuit open")
)

// Error is a classified fetch failure.
type Error struct {
	Kind   error  // one of the Err* kinds above
	URL    string // the URL involved; never carries a token
	Status int    // the HTTP status, when the server answered
	Err    error  // the underlying cause, if any

	retryAfter    time.Duration
	hasRetryAfter bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// FailureReason implements reason.Carrier: the stable reason of the kind
// and whether a later attempt may succeed.
func (e *Error) FailureReason() (reason.Reason, bool) { return classOf(e.Kind) }

func classOf(kind error) (r reason.Reason, transient bool) {
	switch kind {
	case ErrExpired, ErrFallbackFailed:
		return reason.Expired, false
	case ErrNoLocation:
		return reason.MissingFields, false
	case ErrTooLarge:
		return reason.TooLarge, false
	case ErrTimeout:
		return reason.Timeout, true
	case ErrTruncated:
		return reason.Truncated, true
	case ErrRateLimited, ErrServer, ErrNetwork, ErrCircuitOpen:
		return reason.HTTPError, true
	}
	return reason.HTTPError, false // ErrForbiddenHost, ErrStatus
}

// Reason returns the stable failure reason of err, or "" when err did not
// come from this package.
func Reason(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	r, _ := classOf(e.Kind)
	return string(r)
}

// Outage reports whether err says the host could not be reached or did not
// answer properly (a network error, a timeout, a 5xx, a 429, an open
// circuit): a failure of the way to the media, never of the media, that an
// outage of minutes or hours explains.
func Outage(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case ErrNetwork, ErrTimeout, ErrServer, ErrRateLimited, ErrCircuitOpen:
		return true
	}
	return false
}

// Transient reports whether err is a fetch failure worth retrying later:
// 429, 5xx, network errors and timeouts.
func Transient(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	_, t := classOf(e.Kind)
	return t
}

// RetryAfter returns the delay a 429 or 5xx answer asked for in its
// Retry-After header (seconds or an HTTP date), when it gave one.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if !errors.As(err, &e) || !e.hasRetryAfter {
		return 0, false
	}
	return e.retryAfter, true
}

// parseRetryAfter reads a Retry-After value: delta seconds or an HTTP date.
// Dates in the past give zero.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(maxRetryAfter/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, min(t.Sub(now), maxRetryAfter)), true
}

// maxRetryAfter bounds what a server may ask for: beyond it the value is
// treated as absent (seconds) or clamped (dates).
const maxRetryAfter = 24 * time.Hour

// statusError classifies a non-2xx answer.
func statusError(status int, retryAfter, url string) *Error {
	e := &Error{URL: url, Status: status}
	switch {
	case status == 403 || status == 404 || status == 410:
		e.Kind = ErrExpired
	case status == 429:
		e.Kind = ErrRateLimited
	case status == 408:
		e.Kind = ErrTimeout
	case status >= 500:
		e.Kind = ErrServer
	default:
		e.Kind = ErrStatus
	}
	if _, transient := classOf(e.Kind); transient {
		e.retryAfter, e.hasRetryAfter = parseRetryAfter(retryAfter, time.Now())
	}
	return e
}

// timeoutCause is the cancellation cause of a request whose own timer fired.
type timeoutCause struct {
	what string
	d    time.Duration
}

func (c *timeoutCause) Error() string {
	return fmt.Sprintf("%s (%s)", c.what, c.d)
}

// forbiddenAddr is what the dial hook returns for a private address.
type forbiddenAddr struct{ addr string }

func (e *forbiddenAddr) Error() string {
	return "refusing to connect to non-public address " + e.addr
}

// explain turns an error from the HTTP client or a body read into an *Error,
// preferring what the guard knows about why the request context ended.
func (g *guard) explain(err error, url string) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		if fe.URL == "" {
			fe.URL = url
		}
		return fe
	}
	if cause := context.Cause(g.ctx); cause != nil {
		var tc *timeoutCause
		switch {
		case errors.As(cause, &tc):
			return &Error{Kind: ErrTimeout, URL: url, Err: tc}
		case g.parent.Err() != nil:
			return &Error{Kind: ErrTimeout, URL: url, Err: context.Cause(g.parent)}
		}
	}
	var fa *forbiddenAddr
	if errors.As(err, &fa) {
		return &Error{Kind: ErrForbiddenHost, URL: url, Err: fa}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: ErrTimeout, URL: url, Err: err}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Kind: ErrTruncated, URL: url, Err: err}
	}
	return &Error{Kind: ErrNetwork, URL: url, Err: err}
}
