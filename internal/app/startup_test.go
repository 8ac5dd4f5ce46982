package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/bus"
)

// readiness decodes a /readyz answer, failing on anything but valid JSON.
func readiness(t *testing.T, a *app.App) (int, string, []string) {
	t.Helper()
	code, body := get(t, a, "/readyz")
	var out struct {
		Status   string   `json:"status"`
		Problems []string `json:"problems"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out), "valid JSON: %s", body)
	return code, out.Status, out.Problems
}

// proxiedDB returns a proxy to the test's PostgreSQL, to cut and restore,
// and the database URL through it.
func (b *testBundle) proxiedDB(t *testing.T) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(b.dbURL)
	require.NoError(t, err)
	p := startProxy(t, u.Host)
	u.Host = p.addr
	return p, u.String()
}

// TestReadinessWithTwoDependenciesDown cuts PostgreSQL and NATS at once:
// /readyz is still valid JSON and names both.
func TestReadinessWithTwoDependenciesDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, dbURL := b.proxiedDB(t)
	srv, natsURL := startNATS(t, t.TempDir(), 0)
	a := open(t, b.config(t, t.TempDir(), map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL}), options())
	run(t, a)
	code, status, problems := readiness(t, a)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready", status)
	require.Empty(t, problems)

	p.cut()
	bus.ShutdownEmbedded(srv)
	require.Eventually(t, func() bool {
		code, status, problems = readiness(t, a)
		return len(problems) == 2
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "unavailable", status)
	require.True(t, strings.HasPrefix(problems[0], "nats: "), problems[0])
	require.Equal(t, "postgres: unreachable", problems[1])
}

// TestIngestReadinessIgnoresPostgreSQL: the ingest alone needs NATS and its
// secrets, not PostgreSQL: it stays ready (and accepts) while PostgreSQL is
// unreachable.
func TestIngestReadinessIgnoresPostgreSQL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, dbURL := b.proxiedDB(t)
	_, natsURL := startNATS(t, t.TempDir(), 0)
	opts := options()
	opts.Roles = app.Roles{Ingest: true}
	a := open(t, b.config(t, t.TempDir(), map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL}), opts)
	run(t, a)
	p.cut()
	code, status, problems := readiness(t, a)
	require.Equal(t, http.StatusOK, code, problems)
	require.Equal(t, "ready", status)
	code, _, _ = post(t, a, sample(t, "image.json"), b.secret)
	require.Equal(t, http.StatusAccepted, code)
}

// openErr runs Open expecting it to fail, and returns its error.
func openErr(t *testing.T, ctx context.Context, env map[string]string, dataDir string, opts app.Options) error {
	t.Helper()
	b := &testBundle{dbURL: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}
	if v, ok := env["DATABASE_URL"]; ok {
		b.dbURL = v
	}
	a, err := app.Open(ctx, b.config(t, dataDir, env), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), opts)
	require.Nil(t, a)
	require.Error(t, err)
	return err
}

// TestOpenFailsWithOneClearLine: Open's failures name the setting and what
// to do, on one line, and never panic.
func TestOpenFailsWithOneClearLine(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	closed := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cases := []struct {
		name string
		env  map[string]string
		opts app.Options
		want string
	}{
		{"PostgreSQL closed port", map[string]string{"DATABASE_URL": "postgres://postgres@" + closed + "/x?sslmode=disable", "HTTP_ADDR": "127.0.0.1:0"},
			app.Options{Roles: app.All}, "DATABASE_URL: cannot reach PostgreSQL at " + closed + " (connection refused): start it or fix DATABASE_URL"},
		{"PostgreSQL closed port, creating the database", map[string]string{"DATABASE_URL": "postgres://postgres@" + closed + "/x?sslmode=disable", "HTTP_ADDR": "127.0.0.1:0"},
			app.Options{Roles: app.All, CreateDB: true, Migrate: true}, "DATABASE_URL: cannot reach PostgreSQL at " + closed + " (connection refused)"},
		{"no such role", map[string]string{"DATABASE_URL": "postgres://alice@127.0.0.1:5432/postgres?sslmode=disable", "HTTP_ADDR": "127.0.0.1:0"},
			app.Options{Roles: app.All, CreateDB: true}, `DATABASE_URL: PostgreSQL at 127.0.0.1:5432 has no role "alice"`},
		{"no such database", map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mediapipe_missing_db?sslmode=disable", "HTTP_ADDR": "127.0.0.1:0"},
			app.Options{Roles: app.All}, `DATABASE_URL: database "mediapipe_missing_db" does not exist`},
		{"HTTP_ADDR in use", map[string]string{"HTTP_ADDR": busy.Addr().String()},
			app.Options{Roles: app.All}, "HTTP_ADDR=" + busy.Addr().String() + ": the address is already in use"},
		{"single role without a run", map[string]string{"HTTP_ADDR": "127.0.0.1:0"},
			app.Options{Roles: app.Roles{Ingest: true}, JoinEmbedded: true}, "NATS_URL is not set and no `mediapipe run` is running on DATA_DIR="},
		{"webhook larger than NATS messages", map[string]string{"HTTP_ADDR": "127.0.0.1:0", "WEBHOOK_MAX_BYTES": "100MiB"},
			app.Options{Roles: app.Roles{Ingest: true}}, "WEBHOOK_MAX_BYTES=104857600 does not fit in a NATS message: the server's max_payload is 8388608 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := openErr(t, testCtx(t), tc.env, t.TempDir(), tc.opts)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

// TestOpenServesHealthWhileWaitingForNATS: with NATS_URL unreachable, Open
// waits, serving /healthz (200) and /readyz (503, saying what it waits for),
// refusing webhooks; cancelling it ends the wait at once, without a panic.
func TestOpenServesHealthWhileWaitingForNATS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	cfg := b.config(t, t.TempDir(), map[string]string{"NATS_URL": "nats://127.0.0.1:" + strconv.Itoa(freePort(t))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		a, err := app.Open(ctx, cfg, zaptest.NewLogger(t), app.Options{Roles: app.All, Listener: ln, NATSWaitLogEvery: 100 * time.Millisecond})
		if a != nil {
			a.Close()
		}
		done <- err
	}()
	getURL := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	require.Eventually(t, func() bool {
		_, body := getURL("/readyz")
		return strings.Contains(body, "waiting for NATS")
	}, 10*time.Second, 20*time.Millisecond)
	code, _ := getURL("/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := getURL("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.True(t, json.Valid([]byte(body)), body)
	code, _ = getURL("/webhooks/wapi?token=x")
	require.Equal(t, http.StatusServiceUnavailable, code, "no webhook before NATS is there")

	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Open did not return after its context ended")
	}
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the start-up listener is closed")
}

// TestSingleRolesJoinTheRunsEmbeddedServer: a run on a DATA_DIR owns its
// embedded server; a single role on the same DATA_DIR joins it (same
// server, with DATA_DIR's credentials); a second run there refuses.
func TestSingleRolesJoinTheRunsEmbeddedServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dataDir := t.TempDir()
	cfg := b.config(t, dataDir, nil)
	opts := options()
	runApp := open(t, cfg, opts)
	run(t, runApp)

	join := options()
	join.Roles, join.JoinEmbedded = app.Roles{Ingest: true}, true
	ingest := open(t, cfg, join)
	run(t, ingest)
	require.Equal(t, runApp.NATSURL, ingest.NATSURL)
	code, _, _ := post(t, ingest, sample(t, "image.json"), b.secret)
	require.Equal(t, http.StatusAccepted, code)
	require.Eventually(t, func() bool { return b.status(t, messageID(t, sample(t, "image.json"))) == "pending" },
		10*time.Second, 20*time.Millisecond, "the run's analyzer saw the webhook the joined ingest took")

	err := openErr(t, b.ctx, map[string]string{"DATABASE_URL": b.dbURL, "HTTP_ADDR": "127.0.0.1:0"}, dataDir, options())
	require.ErrorContains(t, err, "another mediapipe process (run, demo or reprocess) already runs the embedded NATS server there")

	// A command beside the run (reprocess) joins it too.
	js, closeBus, err := app.ConnectBus(b.ctx, cfg, zap.NewNop())
	require.NoError(t, err)
	require.Equal(t, runApp.NATSURL, js.Conn().ConnectedUrl())
	closeBus()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
