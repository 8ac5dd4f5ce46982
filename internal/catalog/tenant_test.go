package catalog_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
)

func TestAddTenant(t *testing.T) {
	b := setup(t)

	// The bundle's AddTenant created the cliente; a second instance reuses it.
	res, err := b.store.AddTenant(b.ctx, "acme", "LITE-8NDQT1-UWX43P", "token-2")
	require.NoError(t, err)
	require.Equal(t, b.clienteID, res.ClienteID)
	require.False(t, res.ClienteCreated)
	require.Empty(t, res.APIToken, "an existing cliente's token is never shown again")
	require.True(t, res.InstanceCreated)
	require.True(t, strings.HasPrefix(res.WebhookSecret, catalog.WebhookSecretPrefix))

	hashes, err := b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Len(t, hashes, 2)
	require.Equal(t, catalog.HashSecret(res.WebhookSecret), hashes["LITE-8NDQT1-UWX43P"])

	// Adding it again rotates the secret and replaces the W-API token.
	again, err := b.store.AddTenant(b.ctx, "acme", "LITE-8NDQT1-UWX43P", "token-3")
	require.NoError(t, err)
	require.False(t, again.InstanceCreated)
	require.NotEqual(t, res.WebhookSecret, again.WebhookSecret)
	hashes, err = b.store.InstanceSecretHashes(b.ctx)
	require.NoError(t, err)
	require.Equal(t, catalog.HashSecret(again.WebhookSecret), hashes["LITE-8NDQT1-UWX43P"])
	var token string
	require.NoError(t, b.store.Pool.QueryRow(b.ctx, `SELECT wapi_token FROM instances WHERE id = 'LITE-8NDQT1-UWX43P'`).Scan(&token))
	require.Equal(t, "token-3", token)

	// Another cliente may not take the instance, and is not created either.
	_, err = b.store.AddTenant(b.ctx, "globex", "LITE-8NDQT1-UWX43P", "token-4")
	require.ErrorIs(t, err, catalog.ErrInstanceOwned)
	var n int
	require.NoError(t, b.store.Pool.QueryRow(b.ctx, `SELECT count(*) FROM clientes`).Scan(&n))
	require.Equal(t, 1, n)

	// A new cliente gets its API token once.
	globex, err := b.store.AddTenant(b.ctx, "globex", "GLOBEX-1", "token-5")
	require.NoError(t, err)
	require.True(t, globex.ClienteCreated)
	require.True(t, strings.HasPrefix(globex.APIToken, catalog.APITokenPrefix))
	id, name, err := b.store.ClienteByAPIToken(b.ctx, globex.APIToken)
	require.NoError(t, err)
	require.Equal(t, globex.ClienteID, id)
	require.Equal(t, "globex", name)
	_, _, err = b.store.ClienteByAPIToken(b.ctx, globex.APIToken+"x")
	require.ErrorIs(t, err, catalog.ErrNotFound)
}

func TestAddTenant_Invalid(t *testing.T) {
	b := setup(t)
	for _, id := range []string{"", "a.b", "a b", "inst*", "ação", strings.Repeat("x", 65)} {
		_, err := b.store.AddTenant(b.ctx, "acme", id, "token")
		require.ErrorIs(t, err, catalog.ErrInvalidInstanceID, "%q", id)
	}
	require.NoError(t, catalog.ValidateInstanceID(strings.Repeat("x", 64)))
	_, err := b.store.AddTenant(b.ctx, " ", "OK-1", "token")
	require.Error(t, err)
	_, err = b.store.AddTenant(b.ctx, "acme", "OK-1", "")
	require.Error(t, err)
}

func TestInstanceCache(t *testing.T) {
	b := setup(t)
	cache := catalog.NewInstanceCache(b.store)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			id, err := cache.Cliente(b.ctx, b.instance)
			assert.NoError(t, err)
			assert.Equal(t, b.clienteID, id)
		})
	}
	wg.Wait()

	_, err := cache.Cliente(b.ctx, "NEW-1")
	require.ErrorIs(t, err, catalog.ErrNotFound)
	// A miss is asked again, so an instance added later is found.
	_, err = b.store.AddTenant(b.ctx, "acme", "NEW-1", "token")
	require.NoError(t, err)
	id, err := cache.Cliente(b.ctx, "NEW-1")
	require.NoError(t, err)
	require.Equal(t, b.clienteID, id)
}
