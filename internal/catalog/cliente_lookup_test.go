package catalog_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
)

// TestClienteByRef: a cliente is found by id or by name; an unknown one is
// ErrNotFound; a reference that is one cliente's id and another's name is
// refused as ambiguous.
func TestClienteByRef(t *testing.T) {
	t.Parallel()
	store, _ := pgtest.NewStore(t)
	ctx := context.Background()
	op := operator.New(store)
	acme, err := op.Register(ctx, "Acme", "ACME-1", "t")
	require.NoError(t, err)
	globex, err := op.Register(ctx, "globex", "GLOBEX-1", "t")
	require.NoError(t, err)
	acmeID := strconv.FormatInt(acme.ClienteID, 10)

	for _, ref := range []string{acmeID, "Acme", "  Acme ", " " + acmeID} {
		c, err := op.ClienteByRef(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, acme.ClienteID, c.ID, ref)
		require.Equal(t, "Acme", c.Name, ref)
		require.Equal(t, 1, c.Instances)
	}
	c, err := op.ClienteByRef(ctx, "globex")
	require.NoError(t, err)
	require.Equal(t, globex.ClienteID, c.ID)

	for _, ref := range []string{"", "  ", "acme", "99999", "Initech", "-1", "+" + acmeID} {
		_, err := op.ClienteByRef(ctx, ref)
		require.ErrorIs(t, err, catalog.ErrNotFound, "%q", ref)
	}

	// A cliente named as another's id: that number names two clientes.
	_, err = pgtest.DB(t, store).Exec(ctx, `INSERT INTO clientes (name) VALUES ($1)`, acmeID)
	require.NoError(t, err)
	_, err = op.ClienteByRef(ctx, acmeID)
	require.ErrorIs(t, err, catalog.ErrAmbiguousCliente)
	require.ErrorContains(t, err, `is the id of cliente "Acme" and the name of cliente id `)

	require.True(t, catalog.IsClienteID("42"))
	for _, s := range []string{"", "4 2", "-4", "x42", "42x"} {
		require.False(t, catalog.IsClienteID(s), s)
	}
}
