package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
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
	require.Equal(t, catalog.HashSecret(hook[2]), hashes["3B6XIW-ZTS923-GEAY6V"].SecretHash)

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
		{[]string{"tenant", "frobnicate"}, cli.ExitUsage, "unknown subcommand"},
		{[]string{"tenant", "disable", "--help"}, cli.ExitOK, "Usage: mediapipe tenant disable"},
		{[]string{"tenant", "disable"}, cli.ExitUsage, "--instance is required"},
		{[]string{"tenant", "disable", "--instance", "bad.id"}, cli.ExitUsage, "invalid instance id"},
		{[]string{"tenant", "enable", "--help"}, cli.ExitOK, "Usage: mediapipe tenant enable"},
		{[]string{"tenant", "enable", "I-1", "extra"}, cli.ExitUsage, "unexpected argument"},
		{[]string{"tenant", "remove", "--help"}, cli.ExitOK, "Usage: mediapipe tenant remove"},
		{[]string{"tenant", "remove"}, cli.ExitUsage, "give exactly one of --instance and --cliente"},
		{[]string{"tenant", "remove", "--instance", "I-1", "--cliente", "a"}, cli.ExitUsage, "give exactly one of --instance and --cliente"},
		{[]string{"tenant", "remove", "--instance", "bad.id"}, cli.ExitUsage, "invalid instance id"},
		{[]string{"tenant", "add", "--help"}, cli.ExitOK, "Usage: mediapipe tenant add"},
		{[]string{"tenant", "add", "--instance", "I-1", "--wapi-token", "t"}, cli.ExitUsage, "--cliente is required"},
		{[]string{"tenant", "add", "--cliente", "a", "--wapi-token", "t"}, cli.ExitUsage, "--instance is required"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1"}, cli.ExitUsage, "provider wapi: missing flags: --wapi-token"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--provider", "evolution"}, cli.ExitUsage, "provider evolution: missing flags: --base-url, --api-key"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--provider", "meta", "--app-secret", "s"}, cli.ExitUsage, "provider meta: missing flags: --access-token, --verify-token"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--provider", "waha", "--base-url", "waha:3000"}, cli.ExitUsage, `--base-url "waha:3000": want http(s)://`},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--provider", "zapi", "--access-token", "t"}, cli.ExitUsage, "provider zapi does not take --access-token"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--provider", "meta", "--api-key", "k", "--verify-token", "v"}, cli.ExitUsage, "provider meta does not take --api-key"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--provider", "wapi", "--wapi-token", "t", "--base-url", "http://x"}, cli.ExitUsage, "provider wapi does not use: --base-url"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--provider", "telegram"}, cli.ExitUsage, `--provider: unknown provider "telegram"`},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "bad.id", "--wapi-token", "t"}, cli.ExitUsage, "invalid instance id"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--wapi-token", "t", "--public-url", "ftp://x"}, cli.ExitUsage, "--public-url"},
		{[]string{"tenant", "add", "--cliente", "a", "--instance", "I-1", "--wapi-token", "-"}, cli.ExitUsage, "--wapi-token -: no secret on stdin"},
		{[]string{"tenant", "list", "--help"}, cli.ExitOK, "Usage: mediapipe tenant list"},
		{[]string{"tenant", "list", "extra"}, cli.ExitUsage, "unexpected argument"},
		{[]string{"tenant", "rotate-token", "--help"}, cli.ExitOK, "Usage: mediapipe tenant rotate-token"},
		{[]string{"tenant", "rotate-token"}, cli.ExitUsage, "--cliente is required"},
		{[]string{"tenant", "rotate-token", "--cliente", " "}, cli.ExitUsage, "--cliente is required"},
		{[]string{"tenant", "rotate-secret", "--help"}, cli.ExitOK, "Usage: mediapipe tenant rotate-secret"},
		{[]string{"tenant", "rotate-secret"}, cli.ExitUsage, "--instance is required"},
		{[]string{"tenant", "rotate-secret", "--instance", "bad.id"}, cli.ExitUsage, "invalid instance id"},
		{[]string{"tenant", "rotate-secret", "--instance", "I-1", "--public-url", "ftp://x"}, cli.ExitUsage, "--public-url"},
	} {
		code, _, errOut := runWithEnv(t, env, "", tc.args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.err, "%v", tc.args)
	}
}

// addTenant runs tenant add and returns the webhook secret and, for a new
// cliente, the API token it printed.
func addTenant(t *testing.T, env map[string]string, cliente, instance, wapiToken string) (secret, apiToken string) {
	t.Helper()
	code, out, errOut := runWithEnv(t, env, "", "tenant", "add", "--cliente", cliente, "--instance", instance, "--wapi-token", wapiToken)
	require.Equal(t, cli.ExitOK, code, errOut)
	hook := webhookLine.FindStringSubmatch(out)
	require.NotNil(t, hook, out)
	if api := apiTokenLine.FindStringSubmatch(out); api != nil {
		apiToken = api[1]
	}
	return hook[2], apiToken
}

// requireNoSecrets fails when out shows any of the secrets, or their hashes
// in hex or base64.
func requireNoSecrets(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		h := catalog.HashSecret(s)
		for _, form := range []string{s, hex.EncodeToString(h[:]), base64.StdEncoding.EncodeToString(h[:]), base64.RawURLEncoding.EncodeToString(h[:])} {
			require.NotContains(t, out, form)
		}
	}
	require.NotContains(t, out, catalog.APITokenPrefix)
	require.NotContains(t, out, catalog.WebhookSecretPrefix)
}

func TestTenantListCommand(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	env := map[string]string{"DATABASE_URL": u}

	code, out, errOut := runWithEnv(t, env, "", "tenant", "list")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "No clientes are registered")
	code, out, errOut = runWithEnv(t, env, "", "tenant", "list", "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.JSONEq(t, `{"clientes":[]}`, out)

	secret1, api1 := addTenant(t, env, "acme", "3B6XIW-ZTS923-GEAY6V", "wapi-secret-1")
	secret2, _ := addTenant(t, env, "acme", "LITE-8NDQT1-UWX43P", "wapi-secret-2")
	secret3, api3 := addTenant(t, env, "globex", "GLOBEX-1", "wapi-secret-3")
	// What a backup without secrets restores: no API token, no W-API token.
	ctx := context.Background()
	_, err := pgtest.DB(t, store).Exec(ctx, `INSERT INTO clientes (name) VALUES ('initech')`)
	require.NoError(t, err)
	_, err = pgtest.DB(t, store).Exec(ctx, `UPDATE instances SET wapi_token = '' WHERE id = 'GLOBEX-1'`)
	require.NoError(t, err)
	img := wamedia.Descriptor{Type: wamedia.Image, Kind: "imageMessage"}
	img.Check()
	_, err = store.RecordMessages(ctx, []catalog.Message{{InstanceID: "LITE-8NDQT1-UWX43P", MessageID: "M1", ChatRemoteID: "5511", Media: []wamedia.Descriptor{img, img}}})
	require.NoError(t, err)
	secrets := []string{secret1, secret2, secret3, api1, api3, "wapi-secret-1", "wapi-secret-2", "wapi-secret-3"}

	code, out, errOut = runWithEnv(t, env, "", "tenant", "list")
	require.Equal(t, cli.ExitOK, code, errOut)
	requireNoSecrets(t, out+errOut, secrets...)
	require.Regexp(t, `Cliente "acme" \(id \d+\), created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: API token set, 2 media`, out)
	require.Regexp(t, `(?m)^  INSTANCE +PROVIDER +STATE +CREATED +UPDATED +WEBHOOK SECRET +CREDENTIALS +MEDIA$`, out)
	require.Regexp(t, `(?m)^  LITE-8NDQT1-UWX43P +wapi +enabled +\S+ \S+ UTC +\S+ \S+ UTC +set +W-API token set +2$`, out)
	require.Regexp(t, `(?m)^  GLOBEX-1 +wapi +enabled +\S+ \S+ UTC +\S+ \S+ UTC +set +W-API token none +0$`, out)
	require.Contains(t, out, `Cliente "initech"`)
	require.Contains(t, out, "API token none")
	require.Contains(t, out, "no instances")
	require.Contains(t, out, "1 cliente(s) without an API token")
	require.Contains(t, out, "1 instance(s) without a W-API token")
	require.Less(t, strings.Index(out, `"acme"`), strings.Index(out, `"globex"`), "by name")

	code, out, errOut = runWithEnv(t, env, "", "tenant", "list", "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	requireNoSecrets(t, out+errOut, secrets...)
	var doc struct {
		Clientes []struct {
			ID          int64     `json:"id"`
			Name        string    `json:"name"`
			CreatedAt   time.Time `json:"createdAt"`
			HasAPIToken bool      `json:"hasApiToken"`
			Media       int64     `json:"media"`
			DiskBytes   int64     `json:"diskBytes"`
			Instances   []struct {
				ID               string    `json:"id"`
				CreatedAt        time.Time `json:"createdAt"`
				UpdatedAt        time.Time `json:"updatedAt"`
				HasWebhookSecret bool      `json:"hasWebhookSecret"`
				HasWAPIToken     bool      `json:"hasWapiToken"`
				Media            int64     `json:"media"`
				Disabled         bool      `json:"disabled"`
				Provider         string    `json:"provider"`
				HasAPIKey        bool      `json:"hasApiKey"`
				HasAppSecret     bool      `json:"hasAppSecret"`
				HasVerifyToken   bool      `json:"hasVerifyToken"`
			} `json:"instances"`
		} `json:"clientes"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields() // nothing but what is declared here: no secret slips in
	require.NoError(t, dec.Decode(&doc))
	require.False(t, dec.More(), "one JSON document")
	require.Len(t, doc.Clientes, 3)
	acme, globex, initech := doc.Clientes[0], doc.Clientes[1], doc.Clientes[2]
	require.Equal(t, "acme", acme.Name)
	require.True(t, acme.HasAPIToken)
	require.EqualValues(t, 2, acme.Media)
	require.Zero(t, acme.DiskBytes)
	require.WithinDuration(t, time.Now(), acme.CreatedAt, time.Minute)
	require.Len(t, acme.Instances, 2)
	require.Equal(t, "3B6XIW-ZTS923-GEAY6V", acme.Instances[0].ID)
	require.Equal(t, "LITE-8NDQT1-UWX43P", acme.Instances[1].ID)
	require.Equal(t, "wapi", acme.Instances[1].Provider)
	require.EqualValues(t, 2, acme.Instances[1].Media)
	require.True(t, acme.Instances[1].HasWebhookSecret)
	require.True(t, acme.Instances[1].HasWAPIToken)
	require.WithinDuration(t, time.Now(), acme.Instances[1].UpdatedAt, time.Minute)
	require.Equal(t, "globex", globex.Name)
	require.False(t, globex.Instances[0].HasWAPIToken)
	require.Equal(t, "initech", initech.Name)
	require.False(t, initech.HasAPIToken)
	require.NotNil(t, initech.Instances, "an empty list, not null")
	require.Empty(t, initech.Instances)
}

func TestTenantRotateTokenCommand(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	env := map[string]string{"DATABASE_URL": u}
	_, old := addTenant(t, env, "acme", "3B6XIW-ZTS923-GEAY6V", "wapi")
	require.NotEmpty(t, old)

	code, out, errOut := runWithEnv(t, env, "", "tenant", "rotate-token", "--cliente", "acme")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Cliente "acme"`)
	require.Contains(t, out, "shown only this once")
	require.Contains(t, out, "The previous one stops working within 5 seconds")
	require.NotContains(t, out, old)
	api := apiTokenLine.FindStringSubmatch(out)
	require.NotNil(t, api, out)
	require.NotEqual(t, old, api[1])

	ctx := context.Background()
	_, name, err := store.ClienteByAPIToken(ctx, api[1])
	require.NoError(t, err)
	require.Equal(t, "acme", name)
	_, _, err = store.ClienteByAPIToken(ctx, old)
	require.ErrorIs(t, err, catalog.ErrNotFound, "the old token no longer matches")

	// A cliente restored from a backup without secrets has no token: it gets one.
	_, err = pgtest.DB(t, store).Exec(ctx, `INSERT INTO clientes (name) VALUES ('initech')`)
	require.NoError(t, err)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "rotate-token", "--cliente", "initech")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Cliente "initech"`)
	require.Contains(t, out, "had no API token")
	api = apiTokenLine.FindStringSubmatch(out)
	require.NotNil(t, api, out)
	_, name, err = store.ClienteByAPIToken(ctx, api[1])
	require.NoError(t, err)
	require.Equal(t, "initech", name)

	code, out, errOut = runWithEnv(t, env, "", "tenant", "rotate-token", "--cliente", "globex")
	require.Equal(t, cli.ExitFailure, code)
	require.Empty(t, out)
	require.Contains(t, errOut, `cliente "globex" does not exist`)
	var n int
	require.NoError(t, pgtest.DB(t, store).QueryRow(ctx, `SELECT count(*) FROM clientes`).Scan(&n))
	require.Equal(t, 2, n, "an unknown cliente is not created")
}

func TestTenantRotateSecretCommand(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	env := map[string]string{"DATABASE_URL": u, "HTTP_ADDR": "127.0.0.1:9090"}
	old, _ := addTenant(t, env, "acme", "3B6XIW-ZTS923-GEAY6V", "wapi-kept")

	code, out, errOut := runWithEnv(t, env, "", "tenant", "rotate-secret", "--instance", "3B6XIW-ZTS923-GEAY6V")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Instance 3B6XIW-ZTS923-GEAY6V of cliente "acme" has a new webhook secret`)
	require.Contains(t, out, "W-API token was kept")
	require.Contains(t, out, "ingests elsewhere apply the change within about 10 seconds", "no ingest to tell: it says when the change applies")
	require.NotContains(t, out, "wapi-kept")
	require.NotContains(t, out, old)
	require.NotRegexp(t, apiTokenLine, out)
	hook := webhookLine.FindStringSubmatch(out)
	require.NotNil(t, hook, out)
	require.True(t, strings.HasPrefix(hook[1], "http://localhost:9090/webhooks/wapi?token=mpw_"), hook[1])

	ctx := context.Background()
	hashes, err := store.InstanceSecretHashes(ctx)
	require.NoError(t, err)
	require.Equal(t, catalog.HashSecret(hook[2]), hashes["3B6XIW-ZTS923-GEAY6V"].SecretHash)
	var token string
	require.NoError(t, pgtest.DB(t, store).QueryRow(ctx, `SELECT wapi_token FROM instances WHERE id = '3B6XIW-ZTS923-GEAY6V'`).Scan(&token))
	require.Equal(t, "wapi-kept", token)

	// --public-url, and an instance without a W-API token.
	_, err = pgtest.DB(t, store).Exec(ctx, `UPDATE instances SET wapi_token = ''`)
	require.NoError(t, err)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "rotate-secret", "--instance", "3B6XIW-ZTS923-GEAY6V", "--public-url", "https://media.example.com/")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "has no W-API token")
	again := webhookLine.FindStringSubmatch(out)
	require.NotNil(t, again, out)
	require.True(t, strings.HasPrefix(again[1], "https://media.example.com/webhooks/wapi?token=mpw_"), again[1])
	require.NotEqual(t, hook[2], again[2])

	code, out, errOut = runWithEnv(t, env, "", "tenant", "rotate-secret", "--instance", "NOPE-1")
	require.Equal(t, cli.ExitFailure, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "instance NOPE-1 is not registered")
}

// TestTenantAddProviders: instances of the other providers are added with
// their credentials (secrets from stdin, in flag order), the webhook URL
// names the provider's route with the setup hints, the list shows the
// provider and which credentials are set, and no secret is ever printed.
func TestTenantAddProviders(t *testing.T) {
	t.Parallel()
	u := pgtest.NewSchema(t)
	env := map[string]string{"DATABASE_URL": u, "HTTP_ADDR": "127.0.0.1:9090"}
	providerLine := regexp.MustCompile(`(?m)^  (http\S+/webhooks/(\w+)\?token=(mpw_\S+))$`)

	code, out, errOut := runWithEnv(t, env, "", "tenant", "add", "--cliente", "acme", "--provider", "evolution", "--instance", "loja-centro",
		"--base-url", "https://evo.example.com", "--api-key", "evo-secret-key")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Instance loja-centro (Evolution API) registered.")
	hook := providerLine.FindStringSubmatch(out)
	require.NotNil(t, hook, out)
	require.Equal(t, "evolution", hook[2])
	require.Contains(t, out, "X-Webhook-Token: "+hook[3], "Evolution can send the secret as a header")
	require.NotContains(t, out+errOut, "evo-secret-key")

	code, out, errOut = runWithEnv(t, env, "meta-access\nmeta-app-secret\nmeta-verify\n", "tenant", "add", "--cliente", "acme", "--provider", "meta",
		"--instance", "106540352242922", "--access-token", "-", "--app-secret", "-", "--verify-token", "-")
	require.Equal(t, cli.ExitOK, code, errOut)
	hook = providerLine.FindStringSubmatch(out)
	require.NotNil(t, hook, out)
	require.Equal(t, "meta", hook[2])
	require.Contains(t, out, "verify token")
	require.Contains(t, out, "X-Hub-Signature-256")
	for _, s := range []string{"meta-access", "meta-app-secret", "meta-verify"} {
		require.NotContains(t, out+errOut, s)
	}

	ctx := context.Background()
	store, err := catalog.Open(ctx, u)
	require.NoError(t, err)
	defer store.Close()
	auth, err := store.InstanceSecretHashes(ctx)
	require.NoError(t, err)
	meta := auth["106540352242922"]
	require.Equal(t, catalog.HashSecret(hook[3]), meta.SecretHash)
	require.Equal(t, "meta-app-secret", meta.AppSecret, "each stdin line went to its flag, in order")
	require.Equal(t, catalog.HashSecret("meta-verify"), *meta.VerifyTokenHash)

	// Moving the instance to Z-API says so.
	code, out, errOut = runWithEnv(t, env, "", "tenant", "add", "--cliente", "acme", "--provider", "zapi", "--instance", "loja-centro")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "existed as a Evolution API instance: it is now a Z-API instance")

	code, out, errOut = runWithEnv(t, env, "", "tenant", "list")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Regexp(t, `(?m)^  106540352242922 +meta +enabled .* +set +access token set, app secret set, verify token set +0$`, out)
	require.Regexp(t, `(?m)^  loja-centro +zapi +enabled .* +set +client token none +0$`, out)
	for _, s := range []string{"meta-access", "meta-app-secret", "meta-verify", "evo-secret-key"} {
		require.NotContains(t, out+errOut, s)
	}
}
