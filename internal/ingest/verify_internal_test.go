package ingest

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestVerifyTakesTheSamePathForUnknownInstances: a wrong token, a missing
// token and an unknown instance each cost exactly one constant-time compare
// of two SHA-256 hashes, like the right token does, so an answer's timing
// tells a guesser neither whether the instance exists nor how much of the
// token matched. (A property of the code path, not a timing measurement.)
func TestVerifyTakesTheSamePathForUnknownInstances(t *testing.T) {
	const inst, tok = "3B6XIW-ZTS923-GEAY6V", "mpw_right"
	c := NewSecretCache(func(context.Context) (map[string][32]byte, error) {
		return map[string][32]byte{inst: sha256.Sum256([]byte(tok))}, nil
	}, zap.NewNop())
	require.NoError(t, c.Refresh(context.Background()))
	c.missInterval = 0 // every miss reloads: the unknown-instance path in full

	type call struct{ a, b []byte }
	var calls []call
	orig := constantTimeCompare
	constantTimeCompare = func(a, b []byte) int {
		calls = append(calls, call{append([]byte(nil), a...), append([]byte(nil), b...)})
		return orig(a, b)
	}
	t.Cleanup(func() { constantTimeCompare = orig })

	for _, tc := range []struct {
		name, instance, token string
		want                  bool
	}{
		{"right token", inst, tok, true},
		{"wrong token", inst, "mpw_wrong", false},
		{"wrong token sharing a prefix", inst, tok[:len(tok)-1] + "X", false},
		{"missing token", inst, "", false},
		{"unknown instance", "LITE-000000-000000", tok, false},
		{"unknown instance, empty token", "LITE-000000-000000", "", false},
	} {
		calls = nil
		require.Equal(t, tc.want, c.Verify(context.Background(), tc.instance, tc.token), tc.name)
		require.Len(t, calls, 1, "%s: exactly one compare", tc.name)
		got := sha256.Sum256([]byte(tc.token))
		require.Equal(t, got[:], calls[0].a, "%s: the hash of the token is compared, whatever it is", tc.name)
		require.Len(t, calls[0].b, sha256.Size, "%s: against a full hash", tc.name)
		if tc.instance != inst {
			require.Equal(t, dummy[:], calls[0].b, "%s: an unknown instance is compared against the dummy hash", tc.name)
		}
	}
}

// TestVerifyAcceptsARotatedSecretAtOnce: after a rotation the new secret is
// accepted on its first use (one reload on the mismatch), the old one refused.
func TestVerifyAcceptsARotatedSecretAtOnce(t *testing.T) {
	const inst = "3B6XIW-ZTS923-GEAY6V"
	current := "mpw_old"
	loads := 0
	c := NewSecretCache(func(context.Context) (map[string][32]byte, error) {
		loads++
		return map[string][32]byte{inst: sha256.Sum256([]byte(current))}, nil
	}, zap.NewNop())
	require.NoError(t, c.Refresh(context.Background()))
	c.missInterval = 0
	require.True(t, c.Verify(context.Background(), inst, "mpw_old"))

	current = "mpw_new" // rotated in the catalogue
	require.True(t, c.Verify(context.Background(), inst, "mpw_new"), "the new secret works at once")
	require.False(t, c.Verify(context.Background(), inst, "mpw_old"), "the old one no longer does")
	require.Equal(t, 3, loads, "one reload per mismatch, none for a match")
}
