package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrAmbiguousCliente is wrapped by ClienteByRef's error when a reference is
// the id of one cliente and the name of another.
var ErrAmbiguousCliente = errors.New("ambiguous cliente")

// ClienteByRef returns the cliente ref names: its id, when ref is a decimal
// number, or its name (surrounding spaces ignored). It returns ErrNotFound
// when no cliente has that id or name, and an error wrapping
// ErrAmbiguousCliente when ref is one cliente's id and another's name, so
// that a command never acts on the wrong one.
func (o *Operator) ClienteByRef(ctx context.Context, ref string) (Cliente, error) {
	return o.s.clienteByRef(ctx, ref)
}

func (s *Store) clienteByRef(ctx context.Context, ref string) (Cliente, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return Cliente{}, ErrNotFound
	}
	var id *int64
	if IsClienteID(ref) {
		if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
			id = &n
		}
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT c.id, c.name, (SELECT count(*) FROM instances i WHERE i.cliente_id = c.id)::int, c.created_at
		FROM clientes c WHERE c.name = $1 OR c.id = $2 ORDER BY c.id`, ref, id)
	cs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Cliente])
	if err != nil {
		return Cliente{}, fmt.Errorf("looking up cliente %q: %w", ref, err)
	}
	switch len(cs) {
	case 0:
		return Cliente{}, ErrNotFound
	case 1:
		return cs[0], nil
	}
	byID, byName := cs[0], cs[1]
	if byID.Name == ref {
		byID, byName = byName, byID
	}
	return Cliente{}, fmt.Errorf("%w: %q is the id of cliente %q and the name of cliente id %d: give %q or %d",
		ErrAmbiguousCliente, ref, byID.Name, byName.ID, byID.Name, byName.ID)
}

// IsClienteID reports whether ref reads as a cliente id (decimal digits
// only) rather than a name.
func IsClienteID(ref string) bool {
	if ref == "" {
		return false
	}
	for _, c := range []byte(ref) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
