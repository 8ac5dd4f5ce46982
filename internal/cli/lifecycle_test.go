package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/cli"
	"github.com/multichat/mediapipe/internal/ingest"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// TestTenantDisableCommand disables an instance: a real ingest whose secret
// cache reloads from the catalogue answers its webhooks 401, and 202 again
// once it is enabled.
func TestTenantDisableCommand(t *testing.T) {
	t.Parallel()
	store, u := pgtest.NewStore(t)
	url, _ := natstest.Start(t)
	env := map[string]string{"DATABASE_URL": u, "NATS_URL": url}
	const instance = "3B6XIW-ZTS923-GEAY6V" // the instance of pkg/wapi/testdata/image.json
	secret, _ := addTenant(t, env, "acme", instance, "wapi-token")

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nc, js := natstest.Connect(t, url)
	require.NoError(t, bus.Setup(ctx, js, bus.Topology{}))
	log := zaptest.NewLogger(t)
	// The ingest's cache as app runs it: reloads every 10 s (too slow for
	// this test) and at once when a tenant command announces a change.
	cache := ingest.NewSecretCache(ingest.LoaderOf(store.InstanceSecretHashes), log)
	_, err := cache.Subscribe(nc)
	require.NoError(t, err)
	require.NoError(t, cache.Refresh(ctx))
	go cache.Run(ctx, time.Hour)
	srv := httptest.NewServer(&ingest.Handler{JS: js, Secrets: cache, Log: log, MaxBody: 1 << 20, PublishTimeout: 5 * time.Second})
	t.Cleanup(srv.Close)
	body, err := os.ReadFile("../../pkg/wapi/testdata/image.json")
	require.NoError(t, err)
	post := func() int {
		t.Helper()
		resp, err := http.Post(srv.URL+"/webhooks/wapi?token="+secret, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	// settled polls briefly for the announced reload (well under the
	// periodic one), then posts once more.
	settled := func(ok func(int) bool) int {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			code := post()
			if ok(code) || time.Now().After(deadline) {
				return code
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	require.Equal(t, http.StatusAccepted, post())

	code, out, errOut := runWithEnv(t, env, "", "tenant", "disable", "--instance", instance)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Instance 3B6XIW-ZTS923-GEAY6V of cliente "acme" is disabled`)
	require.Contains(t, out, "Media already accepted are still downloaded")
	require.Contains(t, out, "The running ingests were told")
	require.Equal(t, http.StatusUnauthorized, settled(func(c int) bool { return c == http.StatusUnauthorized }),
		"a disabled instance's webhooks are refused once the announcement reached the ingest")

	code, out, errOut = runWithEnv(t, env, "", "tenant", "disable", "--instance", instance)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "was already disabled")

	code, out, errOut = runWithEnv(t, env, "", "tenant", "list")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Regexp(t, `(?m)^  3B6XIW-ZTS923-GEAY6V +wapi +disabled since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +`, out)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "list", "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	var doc struct {
		Clientes []struct {
			Instances []struct {
				Disabled   bool       `json:"disabled"`
				DisabledAt *time.Time `json:"disabledAt"`
			} `json:"instances"`
		} `json:"clientes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.True(t, doc.Clientes[0].Instances[0].Disabled)
	require.WithinDuration(t, time.Now(), *doc.Clientes[0].Instances[0].DisabledAt, time.Minute)

	// tenant add says the instance stays disabled.
	code, out, errOut = runWithEnv(t, env, "", "tenant", "add", "--cliente", "acme", "--instance", instance, "--wapi-token", "wapi-token-2")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Instance 3B6XIW-ZTS923-GEAY6V is disabled: its webhooks are refused until 'mediapipe tenant enable --instance 3B6XIW-ZTS923-GEAY6V'")
	secret = webhookLine.FindStringSubmatch(out)[2]

	code, out, errOut = runWithEnv(t, env, "", "tenant", "enable", "--instance", instance)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "is enabled")
	require.Less(t, settled(func(c int) bool { return c < 300 }), 300, "enabled again: accepted (or a duplicate)")
	code, out, errOut = runWithEnv(t, env, "", "tenant", "enable", "--instance", instance)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "was not disabled")

	for _, cmd := range []string{"disable", "enable"} {
		code, out, errOut = runWithEnv(t, env, "", "tenant", cmd, "--instance", "NOPE-1")
		require.Equal(t, cli.ExitFailure, code)
		require.Empty(t, out)
		require.Contains(t, errOut, "instance NOPE-1 is not registered")
	}
}

// TestTenantRemoveCommand removes an instance, then a cliente: refused while
// media rows exist, then with --with-media their rows and files go, but a
// file another instance uses stays; on both media stores.
func TestTenantRemoveCommand(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testTenantRemoveCommand(t, b.open(t))
		})
	}
}

func testTenantRemoveCommand(t *testing.T, mb mediaBackend) {
	store, u := pgtest.NewStore(t)
	env := withEnv(mb.env, map[string]string{"DATABASE_URL": u})
	addTenant(t, env, "acme", "ACME-1", "w1")
	addTenant(t, env, "acme", "ACME-2", "w2")
	addTenant(t, env, "globex", "GLOBEX-1", "w3")
	files := mb.files
	ctx := context.Background()
	var acme int64
	require.NoError(t, pgtest.DB(t, store).QueryRow(ctx, `SELECT id FROM clientes WHERE name = 'acme'`).Scan(&acme))
	own := storedRow(t, store, files, acme, "ACME-1", "M1", "only ACME-1's")
	shared := storedRow(t, store, files, acme, "ACME-1", "M2", "forwarded")
	storedRow(t, store, files, acme, "ACME-2", "M3", "forwarded")

	code, out, errOut := runWithEnv(t, env, "", "tenant", "remove", "--instance", "ACME-1")
	require.Equal(t, cli.ExitFailure, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "instance ACME-1 has 2 media row(s): nothing was removed. Pass --with-media")
	require.True(t, files.Exists(own))

	code, out, errOut = runWithEnv(t, env, "", "tenant", "remove", "--instance", "ACME-1", "--with-media")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Instance ACME-1 of cliente "acme" removed (the cliente stays).`)
	require.Contains(t, out, "Media rows deleted: 2; stored files deleted: 1 (")
	require.Contains(t, out, "kept because other rows of the cliente use them: 1")
	require.False(t, files.Exists(own))
	require.True(t, files.Exists(shared), "ACME-2's row uses it")

	code, _, errOut = runWithEnv(t, env, "", "tenant", "remove", "--instance", "ACME-1")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "instance ACME-1 is not registered")

	code, _, errOut = runWithEnv(t, env, "", "tenant", "remove", "--cliente", "acme")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, `cliente "acme" has 1 media row(s): nothing was removed`)
	code, out, errOut = runWithEnv(t, env, "", "tenant", "remove", "--cliente", "acme", "--with-media")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, `Cliente "acme" (id `)
	require.Contains(t, out, "removed with its instance(s) ACME-2.")
	require.Contains(t, out, "Media rows deleted: 1; stored files deleted: 1 (")
	require.False(t, files.Exists(shared))

	// A cliente without media goes without --with-media.
	code, out, errOut = runWithEnv(t, env, "", "tenant", "remove", "--cliente", "globex")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Media rows deleted: 0")
	code, out, errOut = runWithEnv(t, env, "", "tenant", "list")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "No clientes are registered")
	n, _, err := blob.Usage(ctx, files, 0)
	require.NoError(t, err)
	require.Zero(t, n, "no stored file is left")
}

// storedRow stores content for cliente and records a success row of
// instance that uses it; it returns the file's path.
func storedRow(t *testing.T, store *catalog.Store, files blob.Store, cliente int64, instance, msg, content string) string {
	t.Helper()
	ctx := context.Background()
	p, err := files.Create(cliente)
	require.NoError(t, err)
	_, err = p.Write([]byte(content))
	require.NoError(t, err)
	sum := catalog.HashSecret(content) // SHA-256, as the store names files
	st, err := p.Commit(sum[:], ".txt")
	require.NoError(t, err)
	rec, err := store.RecordMessages(ctx, []catalog.Message{{InstanceID: instance, MessageID: msg, ChatRemoteID: "5511", Media: []wamedia.Descriptor{docDescriptor()}}})
	require.NoError(t, err)
	require.NoError(t, store.Succeed(ctx, rec[0].MediaID, catalog.Stored{Path: st.Path, Size: st.Size, Mimetype: "text/plain", SHA256: sum[:]}))
	return st.Path
}

func docDescriptor() wamedia.Descriptor {
	d := wamedia.Descriptor{Type: wamedia.Document, Kind: "documentMessage"}
	d.Check()
	return d
}
