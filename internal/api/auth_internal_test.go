package api

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
)

func TestTokenCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _ := pgtest.NewStore(t)
	var tokens []string
	var clientes []int64
	for _, name := range []string{"acme", "globex", "initech"} {
		res, err := operator.New(store).Register(ctx, name, name+"-1", "t")
		require.NoError(t, err)
		tokens, clientes = append(tokens, res.APIToken), append(clientes, res.ClienteID)
	}
	var lookups atomic.Int64
	lookup := func(ctx context.Context, token string) (int64, string, error) {
		lookups.Add(1)
		return store.ClienteByAPIToken(ctx, token)
	}
	now := time.Now()
	a := newAuthenticator(lookup, time.Minute, 2)
	a.now = func() time.Time { return now }

	for range 3 {
		id, err := a.cliente(ctx, tokens[0])
		require.NoError(t, err)
		require.Equal(t, clientes[0], id)
	}
	require.Equal(t, int64(1), lookups.Load(), "a valid token is remembered")

	for range 2 {
		_, err := a.cliente(ctx, "mpk_unknown")
		require.ErrorIs(t, err, catalog.ErrNotFound)
	}
	require.Equal(t, int64(3), lookups.Load(), "an unknown token is looked up every time")

	now = now.Add(time.Minute)
	_, err := a.cliente(ctx, tokens[0])
	require.NoError(t, err)
	require.Equal(t, int64(4), lookups.Load(), "an expired entry is looked up again")

	// Bounded: a third token does not grow the cache past its size.
	for i, tok := range tokens {
		id, err := a.cliente(ctx, tok)
		require.NoError(t, err)
		require.Equal(t, clientes[i], id)
		require.LessOrEqual(t, len(a.entries), 2)
	}
	_, err = a.cliente(ctx, "x")
	require.ErrorIs(t, err, catalog.ErrNotFound)
}
