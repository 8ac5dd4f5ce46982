// Package reason is mediapipe's one vocabulary of failure reasons. The row of
// a media item, the dead-letter record of its message, the metric label and
// the log line of the same failure all name the same Reason, taken from the
// error with Of.
//
// Any error can carry its reason and whether it is transient: wrap it with
// Permanent or Retry, or give its type a FailureReason method. The package is
// a leaf: it imports only the standard library.
package reason

import (
	"errors"
)

// Reason is a stable failure reason.
type Reason string

// The stable reasons of a media item (the failure_reason column) and of a
// dead-lettered message. Their strings never change.
const (
	// Verification failures: the blob or the message is at fault.
	EncHashMismatch   Reason = "enc_hash_mismatch"
	MACMismatch       Reason = "mac_mismatch"
	PlainHashMismatch Reason = "plain_hash_mismatch"
	BadPadding        Reason = "bad_padding"
	Truncated         Reason = "truncated"
	TooLarge          Reason = "too_large"
	TypeMismatch      Reason = "type_mismatch"
	MissingFields     Reason = "missing_fields"
	UnknownInstance   Reason = "unknown_instance"

	// Expired: the CDN no longer has the blob and the W-API fallback could
	// not fetch it.
	Expired Reason = "expired"

	// Transfer failures: the network or a server, not the media.
	HTTPError Reason = "http_error"
	Timeout   Reason = "timeout"

	// Internal is a failure that is ours: the disk, the database, a bug.
	// Never recorded as http_error.
	Internal Reason = "internal"

	// Reasons of dead-lettered messages that are not media items.
	MalformedWebhook Reason = "malformed_webhook"
	// UnsupportedProvider is a webhook on a subject naming no provider the
	// analyzer knows: kept as a dead letter, never read as a W-API body.
	UnsupportedProvider Reason = "unsupported_provider"
	MalformedJob        Reason = "malformed_job"
	UnknownMedia        Reason = "unknown_media"
	Panic               Reason = "panic"
)

// String returns the reason's stable string.
func (r Reason) String() string { return string(r) }

// Carrier is implemented by errors that know their reason and whether a
// later attempt may succeed.
type Carrier interface {
	FailureReason() (r Reason, transient bool)
}

// Error is an error with a reason and a retry class.
type Error struct {
	Reason    Reason
	Temporary bool // a later attempt may succeed
	Err       error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// FailureReason implements Carrier.
func (e *Error) FailureReason() (Reason, bool) { return e.Reason, e.Temporary }

// Permanent marks err as a failure no retry can fix, with reason r.
func Permanent(r Reason, err error) error { return &Error{Reason: r, Err: err} }

// Retry marks err as a failure worth retrying later, with reason r.
func Retry(r Reason, err error) error { return &Error{Reason: r, Temporary: true, Err: err} }

// Of returns the reason of the first error in err's chain that carries one
// (a Carrier, or a type with a Reason() string method), and whether that
// error said so; ("", false) when none does.
func Of(err error) (Reason, bool) {
	if err == nil {
		return "", false
	}
	var c Carrier
	if errors.As(err, &c) {
		r, _ := c.FailureReason()
		if r != "" {
			return r, true
		}
	}
	var s interface{ Reason() string }
	if errors.As(err, &s) && s.Reason() != "" {
		return Reason(s.Reason()), true
	}
	return "", false
}

// OrInternal returns err's reason, or Internal when it carries none: an
// error nobody classified is ours.
func OrInternal(err error) Reason {
	if r, ok := Of(err); ok {
		return r
	}
	return Internal
}

// Transient reports whether the first Carrier in err's chain says a later
// attempt may succeed. Errors without one are not transient.
func Transient(err error) bool {
	var c Carrier
	if errors.As(err, &c) {
		_, t := c.FailureReason()
		return t
	}
	return false
}

// Rank says how much a reason tells about the media: verification failures
// (and the other facts about the message) rank highest, then expired, then
// truncated, then the transfer failures (timeout, http_error), then internal;
// the empty reason ranks lowest.
func Rank(r Reason) int {
	switch r {
	case "":
		return 0
	case Internal:
		return 1
	case Timeout, HTTPError:
		return 2
	case Truncated:
		return 3
	case Expired:
		return 4
	}
	return 5 // verification failures and every other specific reason
}

// MoreInformative returns whichever of seen (the best reason so far) and
// latest tells more about the media; latest on a tie, so that among
// transfer failures the newest wins.
func MoreInformative(seen, latest Reason) Reason {
	if Rank(latest) >= Rank(seen) {
		return latest
	}
	return seen
}
