package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/pkg/webhook"
)

const (
	testInst = "3B6XIW-ZTS923-GEAY6V"
	testTok  = "mpw_right"
)

// TestVerifyTakesTheSamePathForUnknownInstances: a wrong token, a missing
// token and an unknown instance each cost exactly one constant-time compare
// of two SHA-256 hashes, like the right token does, and none loads the
// store: a miss is answered from memory, so an answer's timing tells a
// guesser neither whether the instance exists nor how much of the token
// matched. (A property of the code path, not a timing measurement.)
func TestVerifyTakesTheSamePathForUnknownInstances(t *testing.T) {
	var loads atomic.Int64
	c := NewSecretCache(func(context.Context) (map[string]Instance, error) {
		loads.Add(1)
		return map[string]Instance{testInst: {SecretHash: sha256.Sum256([]byte(testTok))}}, nil
	}, zap.NewNop())
	require.NoError(t, c.Refresh(context.Background()))
	c.missInterval = 0 // every miss asks for a reload: the miss path in full

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
		{"right token", testInst, testTok, true},
		{"wrong token", testInst, "mpw_wrong", false},
		{"wrong token sharing a prefix", testInst, testTok[:len(testTok)-1] + "X", false},
		{"missing token", testInst, "", false},
		{"unknown instance", "LITE-000000-000000", testTok, false},
		{"unknown instance, empty token", "LITE-000000-000000", "", false},
	} {
		calls = nil
		require.Equal(t, tc.want, verifyWAPI(c, tc.instance, tc.token), tc.name)
		require.Len(t, calls, 1, "%s: exactly one compare", tc.name)
		got := sha256.Sum256([]byte(tc.token))
		require.Equal(t, got[:], calls[0].a, "%s: the hash of the token is compared, whatever it is", tc.name)
		require.Len(t, calls[0].b, sha256.Size, "%s: against a full hash", tc.name)
		if tc.instance != testInst {
			require.Equal(t, dummy[:], calls[0].b, "%s: an unknown instance is compared against the dummy hash", tc.name)
		}
		require.EqualValues(t, 1, loads.Load(), "%s: no store load on the request path", tc.name)
	}
}

// TestVerifyNeverWaitsForTheStore: with the store hanging, misses are still
// answered at once; they ask for one background reload, not one each.
func TestVerifyNeverWaitsForTheStore(t *testing.T) {
	t.Parallel()
	var loads atomic.Int64
	release := make(chan struct{})
	c := NewSecretCache(func(ctx context.Context) (map[string]Instance, error) {
		if loads.Add(1) > 1 {
			select { // the store hangs
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return map[string]Instance{testInst: {SecretHash: sha256.Sum256([]byte(testTok))}}, nil
	}, zap.NewNop())
	require.NoError(t, c.Refresh(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, time.Hour) }()
	t.Cleanup(func() { close(release); cancel(); wg.Wait() })

	for i := 0; i < 1000; i++ {
		require.False(t, verifyWAPI(c, "LITE-000000-000000", ""))
		require.False(t, verifyWAPI(c, testInst, "mpw_wrong"))
	}
	require.True(t, verifyWAPI(c, testInst, testTok), "the cache still answers")
	require.Eventually(t, func() bool { return loads.Load() == 2 }, 5*time.Second, 5*time.Millisecond,
		"the misses asked for a reload in the background")
	require.EqualValues(t, 2, loads.Load(), "one reload for 2,000 misses while it hangs")
}

// TestVerifyAcceptsARotatedSecretSoon: after a rotation the first use of the
// new secret is refused from memory and asks for a reload; the new secret
// works once that is done, the old one no longer does.
func TestVerifyAcceptsARotatedSecretSoon(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	current := "mpw_old"
	c := NewSecretCache(func(context.Context) (map[string]Instance, error) {
		mu.Lock()
		defer mu.Unlock()
		return map[string]Instance{testInst: {SecretHash: sha256.Sum256([]byte(current))}}, nil
	}, zap.NewNop())
	require.NoError(t, c.Refresh(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx, time.Hour)
	require.True(t, verifyWAPI(c, testInst, "mpw_old"))

	mu.Lock()
	current = "mpw_new" // rotated in the catalogue
	mu.Unlock()
	require.Eventually(t, func() bool { return verifyWAPI(c, testInst, "mpw_new") },
		5*time.Second, 10*time.Millisecond, "the new secret works after the reload its first miss asked for")
	require.False(t, verifyWAPI(c, testInst, "mpw_old"), "the old one no longer does")
}

// TestRunLoadsUntilLoaded: an ingest that could not load its secrets at
// start keeps trying every second and says so through Loaded.
func TestRunLoadsUntilLoaded(t *testing.T) {
	t.Parallel()
	var loads atomic.Int64
	c := NewSecretCache(func(context.Context) (map[string]Instance, error) {
		if loads.Add(1) < 3 {
			return nil, errors.New("database down")
		}
		return map[string]Instance{testInst: {SecretHash: sha256.Sum256([]byte(testTok))}}, nil
	}, zap.NewNop())
	require.False(t, c.Loaded())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx, time.Hour)
	require.Eventually(t, c.Loaded, 10*time.Second, 10*time.Millisecond)
	require.True(t, verifyWAPI(c, testInst, testTok))
}

// verifyWAPI is Verify for a W-API instance, reporting only the outcome.
func verifyWAPI(c *SecretCache, instanceID, token string) bool {
	_, ok := c.Verify(context.Background(), webhook.WAPI, instanceID, token)
	return ok
}
