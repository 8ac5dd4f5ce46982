package e2e_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// startupEnv is the environment of a process under the start-up test: JSON
// logs (so that the error line is the only other one), a DATA_DIR of its
// own, a free HTTP_ADDR, a schema of its own in the test's PostgreSQL;
// extra overrides.
func startupEnv(t *testing.T, extra map[string]string) (map[string]string, string) {
	addr := proctest.FreeAddr(t)
	vars := map[string]string{
		"DATABASE_URL": pgtest.NewSchema(t), "DATA_DIR": t.TempDir(), "HTTP_ADDR": addr,
		"LOG_FORMAT": "json", "LOG_LEVEL": "info",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return vars, vars["HTTP_ADDR"]
}

// plainLines returns the lines of a process's output that are not JSON log
// lines: what it printed for a person.
func plainLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	return lines
}

// requireNoCrash fails the test when the output shows a panic or a stack.
func requireNoCrash(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{"panic", "goroutine ", "runtime error", "SIGSEGV"} {
		require.NotContains(t, out, s, "the process crashed:\n%s", out)
	}
}

// silentListener accepts TCP connections and never answers: PostgreSQL or
// NATS that hangs.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan []net.Conn)
	go func() {
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				done <- conns
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range <-done {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func closedAddr(t *testing.T) string { return proctest.FreeAddr(t) }

// TestStartupFailures runs each long-running command against each start-up
// failure an operator meets first: the process exits 1 (0 when stopped by
// SIGTERM while it waits) with exactly one line for a person, naming the
// setting or dependency, and never panics.
func TestStartupFailures(t *testing.T) {
	t.Parallel()
	pgtest.URL(t) // skips the test without PostgreSQL
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	pgClosed := "postgres://postgres@" + closedAddr(t) + "/mediapipe?sslmode=disable"

	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the one line
		// sigterm: the process waits (serving /healthz); SIGTERM ends it
		// with exit 0.
		sigterm bool
		skip    func(t *testing.T)
	}{
		{name: "run, PostgreSQL closed port", args: []string{"run"}, env: map[string]string{"DATABASE_URL": pgClosed},
			want: []string{"DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:", "(connection refused): start it or fix DATABASE_URL"}},
		{name: "ingest, PostgreSQL closed port", args: []string{"ingest"}, env: map[string]string{"DATABASE_URL": pgClosed},
			want: []string{"DATABASE_URL: cannot reach PostgreSQL"}},
		{name: "analyzer, PostgreSQL closed port", args: []string{"analyzer"}, env: map[string]string{"DATABASE_URL": pgClosed},
			want: []string{"DATABASE_URL: cannot reach PostgreSQL"}},
		{name: "downloader, PostgreSQL closed port", args: []string{"downloader"}, env: map[string]string{"DATABASE_URL": pgClosed},
			want: []string{"DATABASE_URL: cannot reach PostgreSQL"}},
		{name: "demo, PostgreSQL closed port", args: []string{"demo"}, env: map[string]string{"DATABASE_URL": pgClosed},
			want: []string{"DATABASE_URL", "PostgreSQL"}},
		{name: "run, PGUSER names no role", args: []string{"run"},
			env:  map[string]string{"DATABASE_URL": "postgres://127.0.0.1:5432/mediapipe?sslmode=disable", "PGUSER": "alice"},
			want: []string{`DATABASE_URL: PostgreSQL at 127.0.0.1:5432 has no role "alice"`, "PGUSER"}},
		{name: "run, URL user names no role", args: []string{"run"},
			env:  map[string]string{"DATABASE_URL": "postgres://alice@127.0.0.1:5432/mediapipe?sslmode=disable"},
			want: []string{`has no role "alice"`}},
		{name: "run, HTTP_ADDR in use", args: []string{"run"}, env: map[string]string{"HTTP_ADDR": busy.Addr().String()},
			want: []string{"HTTP_ADDR=" + busy.Addr().String() + ": the address is already in use"}},
		{name: "ingest, HTTP_ADDR malformed", args: []string{"ingest"}, env: map[string]string{"HTTP_ADDR": "8080"},
			want: []string{`HTTP_ADDR="8080": want host:port`}},
		{name: "run, bad values", args: []string{"run"},
			env:  map[string]string{"MAX_MEDIA_BYTES": "17179869185G", "STREAM_MAX_AGE": "-1d", "ALLOW_EXECUTABLE_DOCUMENTS": "TRUE", "WHATSAPP_MEDIA_HOSTS": "*"},
			want: []string{"configuration (3 problems)", "MAX_MEDIA_BYTES=\"17179869185G\": too large", "STREAM_MAX_AGE=\"-1d\": must be a positive duration", "STREAM_MAX_AGE", "WHATSAPP_MEDIA_HOSTS"}},
		{name: "run, short ADMIN_TOKEN", args: []string{"run"}, env: map[string]string{"ADMIN_TOKEN": "admin"},
			want: []string{"ADMIN_TOKEN is 5 characters: use 16 or more"}},
		{name: "ingest, no NATS_URL and no run", args: []string{"ingest"},
			want: []string{"NATS_URL is not set and no `mediapipe run` is running on DATA_DIR="}},
		{name: "analyzer, no NATS_URL and no run", args: []string{"analyzer"},
			want: []string{"NATS_URL is not set and no `mediapipe run`"}},
		{name: "downloader, no NATS_URL and no run", args: []string{"downloader"},
			want: []string{"NATS_URL is not set and no `mediapipe run`"}},
		{name: "ingest, NATS 2.9", args: []string{"ingest"}, env: map[string]string{"NATS_URL": "nats://127.0.0.1:4222"},
			want: []string{"NATS_URL: NATS server at nats://127.0.0.1:4222: it is version 2.9.", "mediapipe needs 2.10.0 or newer"},
			skip: requireNATS29},
		{name: "ingest, unreachable NATS_URL, SIGTERM", args: []string{"ingest"},
			env: map[string]string{"NATS_URL": "nats://" + closedAddr(t)}, sigterm: true},
		{name: "run, unreachable NATS_URL, SIGTERM", args: []string{"run"},
			env: map[string]string{"NATS_URL": "nats://" + closedAddr(t)}, sigterm: true},
		{name: "run, PostgreSQL hangs, SIGTERM", args: []string{"run"},
			env: map[string]string{"DATABASE_URL": "postgres://postgres@" + silentListener(t) + "/x?sslmode=disable"}, sigterm: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.skip != nil {
				tc.skip(t)
			}
			vars, addr := startupEnv(t, tc.env)
			p := proctest.Start(t, proctest.Command{
				Name: "mediapipe " + strings.Join(tc.args, " "), Path: mediapipe.Path, Args: tc.args,
				Env: proctest.Environ(vars), Addr: addr,
			})
			p.KillAtCleanup(4000)
			if tc.sigterm {
				p.WaitHTTP("http://"+addr+"/healthz", 20*time.Second)
				resp, err := http.Get("http://" + addr + "/readyz")
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "not ready while waiting")
				require.Equal(t, 0, p.Stop(syscall.SIGTERM, 10*time.Second), "SIGTERM while waiting is a clean stop")
				out := p.Log.String()
				requireNoCrash(t, out)
				require.Empty(t, plainLines(out), "nothing but log lines:\n%s", out)
				return
			}
			code := p.Wait(30 * time.Second)
			out := p.Log.String()
			requireNoCrash(t, out)
			require.Equal(t, 1, code, out)
			lines := plainLines(out)
			if tc.args[0] == "demo" { // the demo prints its plan on stdout first
				lines = lines[len(lines)-1:]
			}
			require.Len(t, lines, 1, "exactly one line for a person:\n%s", out)
			require.True(t, strings.HasPrefix(lines[0], "mediapipe "+tc.args[0]+": "), lines[0])
			for _, w := range tc.want {
				require.Contains(t, lines[0], w)
			}
		})
	}
}

// requireNATS29 skips the test unless the Debian NATS 2.9 server answers on
// 127.0.0.1:4222 (with CI=true its absence fails the test).
func requireNATS29(t *testing.T) {
	t.Helper()
	nc, err := nats.Connect("nats://127.0.0.1:4222", nats.Timeout(2*time.Second))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the NATS 2.9 server on 127.0.0.1:4222 is not reachable: %v", err)
		}
		t.Skipf("no NATS server on 127.0.0.1:4222 (%v)", err)
	}
	defer nc.Close()
	if v := nc.ConnectedServerVersion(); !strings.HasPrefix(v, "2.9.") {
		t.Skipf("the server on 127.0.0.1:4222 is %s, not 2.9", v)
	}
}

// TestOneEmbeddedServerPerDataDir: a run owns DATA_DIR's embedded NATS
// server (credentials in a file of mode 0600); a second run there refuses
// with one line; a single role without NATS_URL joins the run.
func TestOneEmbeddedServerPerDataDir(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	delete(e.vars, "NATS_URL")
	runProc := e.start("run")
	dataDir := e.vars["DATA_DIR"]
	info, err := os.Stat(filepath.Join(dataDir, "nats.credentials"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	url, err := os.ReadFile(filepath.Join(dataDir, "nats.url"))
	require.NoError(t, err)
	_, err = nats.Connect(strings.TrimSpace(string(url)))
	require.ErrorIs(t, err, nats.ErrAuthorization, "the embedded server refuses a client without credentials")

	addr := proctest.FreeAddr(t)
	second := proctest.Start(t, proctest.Command{
		Name: "second run", Path: mediapipe.Path, Args: []string{"run"},
		Env: proctest.Environ(e.vars, map[string]string{"HTTP_ADDR": addr}), Addr: addr,
	})
	second.KillAtCleanup(4000)
	require.Equal(t, 1, second.Wait(30*time.Second))
	out := second.Log.String()
	requireNoCrash(t, out)
	lines := plainLines(out)
	require.Len(t, lines, 1, out)
	require.Contains(t, lines[0], "DATA_DIR="+dataDir+": another mediapipe process (run, demo or reprocess) already runs the embedded NATS server there")

	// The ingest joins the run's server: what it takes, the run's analyzer
	// and downloader process.
	ingest := e.start("ingest")
	it, err := e.sim.AddSample(samples.Benign()[0])
	require.NoError(t, err)
	msgID := proctest.NewMessageID()
	e.post(ingest, wasim.InstancePro, wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{
		InstanceID: wasim.InstancePro, MessageID: msgID, Media: it,
	}))
	proctest.Poll(t, 30*time.Second, "the media downloaded", func() bool {
		return e.rows(wasim.InstancePro, []string{msgID})[msgID].Status == "success"
	})
	require.Equal(t, 0, ingest.Stop(syscall.SIGTERM, 15*time.Second))
	require.Equal(t, 0, runProc.Stop(syscall.SIGTERM, 30*time.Second))
}
