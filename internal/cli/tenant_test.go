package cli_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/pgtest"
)

// runWithEnv runs mediapipe with args in an environment of env, and returns the
// exit code, stdout and stderr.
func runWithEnv(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	io := cli.IO{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	code := cli.Main(ctx, io, args)
	return code, stdout.String(), stderr.String()
}

var (
	webhookLine  = regexp.MustCompile(`(?m)^  (http\S+/webhooks/wapi\?token=(mpw_\S+))$`)
	apiTokenLine = regexp.MustCompile(`(?m)^  (mpk_\S+)$`)
)

func TestTenantAddCommand(t *testing.T) {
	t.Parallel()
	u := pgtest.NewSchema(t) // not migrated: tenant add does it
	env := map[string]string{"DATABASE_URL": u, "HTTP_ADDR": "127.0.0.1:9090"}

	code, out, errOut := runWithEnv(t, env, "", "tenant", "add", "--cliente", "acme", "--instance", "3B6XIW-ZTS923-GEAY6V", "--wapi-token", "secret-wapi")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Cliente "acme" created`)
	require.Contains(t, out, "Store it now")
	require.NotContains(t, out+errOut, "secret-wapi", "the W-API token is never printed")
	hook := webhookLine.FindStringSubmatch(out)
	require.NotNil(t, hook, out)
	require.True(t, strings.HasPrefix(hook[1], "http://localhost:9090/webhooks/wapi?token="), hook[1])
	api := apiTokenLine.FindStringSubmatch(out)
	require.NotNil(t, api, out)

	ctx := context.Background()
	store, err := catalog.Open(ctx, u)
	require.NoError(t, err)
	defer store.Close()
	_, name, err := store.ClienteByAPIToken(ctx, api[1])
	require.NoError(t, err)
	require.Equal(t, "acme", name)
	hashes, err := store.InstanceSecretHashes(ctx)
	require.NoError(t, err)
	require.Equal(t, catalog.HashSecret(hook[2]), hashes["3B6XIW-ZTS923-GEAY6V"])

	// A second instance of the same cliente, token from stdin, public URL.
	code, out, errOut = runWithEnv(t, env, "wapi-2\n", "tenant", "add", "--cliente", "acme", "--instance", "LITE-8NDQT1-UWX43P",
		"--wapi-token", "-", "--public-url", "https://media.example.com/")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "its API token was shown when it was created")
	require.NotRegexp(t, apiTokenLine, out)
	hook = webhookLine.FindStringSubmatch(out)
	require.NotNil(t, hook, out)
	require.True(t, strings.HasPrefix(hook[1], "https://media.example.com/webhooks/wapi?token=mpw_"), hook[1])

	// Again: the secret rotates.
	code, out, errOut = runWithEnv(t, env, "", "tenant", "add", "--cliente", "acme", "--instance", "LITE-8NDQT1-UWX43P", "--wapi-token", "wapi-3")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "rotated")
	require.NotEqual(t, hook[2], webhookLine.FindStringSubmatch(out)[2])

	// Another cliente's instance.
	code, out, errOut = runWithEnv(t, env, "", "tenant", "add", "--cliente", "globex", "--instance", "LITE-8NDQT1-UWX43P", "--wapi-token", "x")
	require.Equal(t, cli.ExitFailure, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "another cliente")
}

func TestTenantCommandUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/never-reached?sslmode=disable"}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"tenant"}, cli.ExitUsage, "Usage: mediapipe tenant"},
		{[]string{"tenant", "--help"}, cli.ExitOK, "Usage: mediapipe tenant"},
		{[]string{"tenant", "remove"}, cli.ExitUsage, "unknown subcommand"},
		{[]string{"tenant", "add", "--help"}, cli.ExitOK, "Usage: mediapipe tenant add"},
		{[]string{"tenant", "add", "--instance", "I-1", "--wapi-token", "t"}, cli.ExitUsage, "--cliente is required"},
		{[]string{"tenant", "add", "--cliente", "a", "--wapi-token", "t"}, cli.ExitUsage, "--instance is required"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1"}, cli.ExitUsage, "--wapi-token is required"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "bad.id", "--wapi-token", "t"}, cli.ExitUsage, "invalid instance id"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--wapi-token", "t", "--public-url", "ftp://x"}, cli.ExitUsage, "--public-url"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--wapi-token", "-"}, cli.ExitUsage, "no token on stdin"},
	} {
		code, _, errOut := runWithEnv(t, env, "", tc.args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.err, "%v", tc.args)
	}
}
