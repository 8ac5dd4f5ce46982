package wamedia

import (
	"encoding/hex"
	"errors"
)

// failure is a verification failure with a stable reason string.
type failure struct {
	reason    string
	msg       string
	transient bool
}

func (f *failure) Error() string { return "wamedia: " + f.msg }

// The verification failures of Decrypt, one per failure reason (docs/MEDIA.md).
// Returned errors wrap one of them with context (sizes, hash prefixes, never
// the key): test with errors.Is, map with Reason and Transient.
var (
	// ErrTruncated: the blob is shorter than 26 bytes, its length minus the
	// 10-byte mac is not a multiple of 16, or the body ended unexpectedly.
	// Transient: a cut transfer.
	ErrTruncated error = &failure{"truncated", "blob truncated", true}
	// ErrEncHashMismatch: SHA-256 of the blob differs from fileEncSha256.
	// Transient: a corrupted or wrong blob from the CDN.
	ErrEncHashMismatch error = &failure{"enc_hash_mismatch", "fileEncSha256 mismatch", true}
	// ErrMACMismatch: the HMAC does not match: wrong key or wrong class.
	ErrMACMismatch error = &failure{"mac_mismatch", "mac mismatch", false}
	// ErrBadPadding: the PKCS#7 padding is invalid: wrong key.
	ErrBadPadding error = &failure{"bad_padding", "bad padding", false}
	// ErrPlainHashMismatch: SHA-256 of the plain file differs from
	// fileSha256: an inconsistent message.
	ErrPlainHashMismatch error = &failure{"plain_hash_mismatch", "fileSha256 mismatch", false}
	// ErrTypeMismatch: the magic numbers do not fit the media type (a PDF
	// sent as an image, an executable sent as a document).
	ErrTypeMismatch error = &failure{"type_mismatch", "content does not fit the media type", false}
	// ErrTooLarge: the blob is larger than Params.MaxBytes.
	ErrTooLarge error = &failure{"too_large", "blob too large", false}
	// ErrMissingFields: a required key or hash is missing or malformed.
	ErrMissingFields error = &failure{"missing_fields", "missing fields", false}
)

// Reason returns the stable failure reason of err ("truncated",
// "enc_hash_mismatch", "mac_mismatch", "bad_padding", "plain_hash_mismatch",
// "type_mismatch", "too_large", "missing_fields"), or "" when err is not (and
// does not wrap) one of this package's failures.
func Reason(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	return ""
}

// Transient reports whether err is a failure worth retrying: truncated and
// enc_hash_mismatch (the transfer, not the message, is at fault). Every other
// failure of this package is permanent. Errors that are not this package's
// failures (I/O errors of the reader or writer) report false: the caller
// classifies those.
func Transient(err error) bool {
	var f *failure
	return errors.As(err, &f) && f.transient
}

// hashPrefix renders the first 6 bytes of a hash for error messages.
func hashPrefix(b []byte) string {
	if len(b) > 6 {
		b = b[:6]
	}
	return hex.EncodeToString(b) + "…"
}
