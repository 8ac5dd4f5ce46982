package reason_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/reason"
)

type legacy struct{}

func (legacy) Error() string  { return "legacy" }
func (legacy) Reason() string { return "malformed_webhook" }

func TestOf(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	cases := []struct {
		name      string
		err       error
		reason    reason.Reason
		ok        bool
		transient bool
	}{
		{"nil", nil, "", false, false},
		{"plain error", cause, "", false, false},
		{"permanent", reason.Permanent(reason.MACMismatch, cause), reason.MACMismatch, true, false},
		{"retry", reason.Retry(reason.Timeout, cause), reason.Timeout, true, true},
		{"wrapped retry", fmt.Errorf("media 7: %w", reason.Retry(reason.HTTPError, cause)), reason.HTTPError, true, true},
		{"outermost carrier wins", reason.Permanent(reason.Internal, reason.Retry(reason.Timeout, cause)), reason.Internal, true, false},
		{"a Reason() string method", fmt.Errorf("x: %w", legacy{}), reason.MalformedWebhook, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok := reason.Of(c.err)
			require.Equal(t, c.reason, r)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.transient, reason.Transient(c.err))
			if c.err != nil {
				require.ErrorIs(t, c.err, c.err)
			}
		})
	}
	require.Equal(t, reason.Internal, reason.OrInternal(cause), "an error nobody classified is ours")
	require.ErrorIs(t, reason.Retry(reason.Timeout, cause), cause)
}

// TestMoreInformative: verification failures outrank expired, which
// outranks truncated, the transfer failures and internal; among equals the
// latest wins.
func TestMoreInformative(t *testing.T) {
	t.Parallel()
	cases := []struct{ seen, latest, want reason.Reason }{
		{"", reason.Internal, reason.Internal},
		{reason.EncHashMismatch, reason.HTTPError, reason.EncHashMismatch},
		{reason.EncHashMismatch, reason.Timeout, reason.EncHashMismatch},
		{reason.HTTPError, reason.EncHashMismatch, reason.EncHashMismatch},
		{reason.Timeout, reason.HTTPError, reason.HTTPError},
		{reason.HTTPError, reason.Timeout, reason.Timeout},
		{reason.Expired, reason.HTTPError, reason.Expired},
		{reason.MACMismatch, reason.Expired, reason.MACMismatch},
		{reason.Truncated, reason.Timeout, reason.Truncated},
		{reason.HTTPError, reason.Internal, reason.HTTPError},
		{reason.Internal, reason.Timeout, reason.Timeout},
		{reason.EncHashMismatch, reason.TypeMismatch, reason.TypeMismatch},
	}
	for _, c := range cases {
		require.Equal(t, c.want, reason.MoreInformative(c.seen, c.latest), "%s then %s", c.seen, c.latest)
	}
}
