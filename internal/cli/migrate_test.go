package cli_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/pgtest"
)

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": pgtest.NewSchema(t)}

	code, out, errOut := runWithEnv(t, env, "", "migrate")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "applied 00001_catalog.sql")
	require.Regexp(t, `schema now at version [1-9]`, out)

	code, out, errOut = runWithEnv(t, env, "", "migrate")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Regexp(t, `^schema up to date \(version [1-9]\d*\)\n$`, out)

	code, _, errOut = runWithEnv(t, env, "", "migrate", "--help")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, errOut, "Usage: mediapipe migrate")
	code, _, _ = runWithEnv(t, env, "", "migrate", "extra")
	require.Equal(t, cli.ExitUsage, code)
	code, _, _ = runWithEnv(t, env, "", "migrate", "--bogus")
	require.Equal(t, cli.ExitUsage, code)

	code, _, errOut = runWithEnv(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}, "", "migrate")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "mediapipe migrate:")
}
