package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
)

// Every command's --cliente takes a cliente's id or its name, and one
// resolver reads it: an unknown cliente is an error naming it (exit 1).

// clienteFlag declares a command's --cliente; what says what it selects.
func clienteFlag(cmd *cobra.Command, what string) *string {
	return cmd.Flags().String("cliente", "", what+", by `id` or name")
}

// findCliente returns the cliente ref names; an unknown one is an
// unknownCliente error.
func findCliente(ctx context.Context, store *catalog.Store, ref string) (catalog.Cliente, error) {
	c, err := operator.New(store).ClienteByRef(ctx, ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return c, unknownCliente(strings.TrimSpace(ref))
	}
	return c, err
}

// unknownCliente is the error for a --cliente that names no cliente; it
// wraps catalog.ErrNotFound.
type unknownCliente string

func (u unknownCliente) Error() string {
	return fmt.Sprintf("cliente %q does not exist ('mediapipe tenant list' lists them)", string(u))
}

func (unknownCliente) Unwrap() error { return catalog.ErrNotFound }

// clienteScope resolves an optional --cliente: empty (or 0, as the flag
// once took ids only) is every cliente, the zero Cliente (id 0).
func clienteScope(ctx context.Context, store *catalog.Store, ref string) (catalog.Cliente, error) {
	if ref = strings.TrimSpace(ref); ref == "" || ref == "0" {
		return catalog.Cliente{}, nil
	}
	return findCliente(ctx, store, ref)
}
