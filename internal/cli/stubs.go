package cli

import (
	"context"
	"errors"
)

// Commands not built yet. Each moves to its own file when it is.

var errNotYet = errors.New("not implemented yet")

func runCleanup(ctx context.Context, io IO, args []string) error { return errNotYet }
func runExport(ctx context.Context, io IO, args []string) error  { return errNotYet }
func runImport(ctx context.Context, io IO, args []string) error  { return errNotYet }
