package catalog_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/pgtest"
)

// TestIsDataError: the classification callers use instead of reading
// SQLSTATE themselves says a refused value (class 22) apart from a
// constraint, a connection problem or no error, through any wrapping.
func TestIsDataError(t *testing.T) {
	b := setup(t)
	_, divErr := pgtest.DB(t, b.store).Exec(b.ctx, `SELECT 1/0`)                                                    // 22012 division_by_zero
	_, dupErr := pgtest.DB(t, b.store).Exec(b.ctx, `INSERT INTO clientes (id, name) SELECT id, name FROM clientes`) // 23505
	_, badErr := pgtest.DB(t, b.store).Exec(b.ctx, `SELECT 'x'::int`)                                               // 22P02 invalid_text_representation
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"division by zero", divErr, true},
		{"invalid text", badErr, true},
		{"wrapped data error", fmt.Errorf("recording the webhook: %w", divErr), true},
		{"unique violation", dupErr, false},
		{"not PostgreSQL", errors.New("connection reset"), false},
		{"no error", nil, false},
	} {
		require.Equal(t, tc.want, catalog.IsDataError(tc.err), tc.name)
	}
	require.Error(t, dupErr)
	require.True(t, strings.Contains(catalog.DescribeConnectError("postgres://u@db.example:5433/x", divErr).Error(), "PostgreSQL at db.example:5433"))
}
