package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// bin is the mediapipe binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	// MEDIAPIPE_E2E_BIN runs the tests against a binary built beforehand
	// (benchmarks comparing builds).
	if bin = os.Getenv("MEDIAPIPE_E2E_BIN"); bin != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "mediapipe-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "mediapipe")
	build := exec.Command("go", "build", "-o", bin, "github.com/multichat/mediapipe/cmd/mediapipe")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mediapipe:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a deployment under test: a schema, a JetStream server and a
// simulator, and the environment every mediapipe process gets.
type env struct {
	t       testing.TB
	store   *catalog.Store
	sim     *wasim.Server
	vars    map[string]string
	media   string
	secrets map[string]string // instance → webhook secret
	cliente map[string]int64  // instance → cliente id
}

const wapiToken = "wapi-token-e2e"

func newEnv(t testing.TB, instances ...string) *env {
	t.Helper()
	store, dbURL := pgtest.NewStore(t)
	natsURL, _ := natstest.Start(t)
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	data := t.TempDir()
	e := &env{
		t: t, store: store, sim: sim, media: filepath.Join(data, "media"),
		secrets: map[string]string{}, cliente: map[string]int64{},
		vars: map[string]string{
			"DATABASE_URL":          dbURL,
			"NATS_URL":              natsURL,
			"DATA_DIR":              data,
			"MEDIA_DIR":             filepath.Join(data, "media"),
			"WHATSAPP_CDN_BASE_URL": sim.CDNBaseURL(),
			"WAPI_BASE_URL":         sim.WAPIBaseURL(),
			"LOG_FORMAT":            "json",
			"LOG_LEVEL":             "info",
		},
	}
	if len(instances) == 0 {
		instances = []string{wasim.InstancePro}
	}
	for i, inst := range instances {
		res, err := store.AddTenant(context.Background(), "Cliente "+strconv.Itoa(i), inst, wapiToken)
		require.NoError(t, err)
		sim.AddInstance(inst, wapiToken)
		e.secrets[inst], e.cliente[inst] = res.WebhookSecret, res.ClienteID
	}
	return e
}

// proc is a running mediapipe subprocess.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	addr string // HTTP_ADDR
	log  *lockedBuffer
	done chan struct{}
	err  error // set when done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func (e *env) environ(extra map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range e.vars {
		if _, ok := extra[k]; !ok {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range extra {
		out = append(out, k+"="+v)
	}
	return out
}

// start runs `mediapipe <args>` with the env's variables and a free
// HTTP_ADDR and waits until it answers /readyz. The process is killed at
// cleanup if it still runs; its log is printed when the test failed.
func (e *env) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{t: e.t, name: strings.Join(args, " "), addr: freeAddr(e.t), log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = e.environ(map[string]string{"HTTP_ADDR": p.addr})
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(e.t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if e.t.Failed() {
			e.t.Logf("--- log of mediapipe %s (pid %d):\n%s", p.name, p.cmd.Process.Pid, tail(p.log.String(), 6000))
		}
	})
	p.waitReady(30 * time.Second)
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.done:
			require.FailNow(p.t, "process exited before it was ready", "mediapipe %s: %v\n%s", p.name, p.err, tail(p.log.String(), 4000))
		default:
		}
		resp, err := client.Get("http://" + p.addr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		require.True(p.t, time.Now().Before(deadline), "mediapipe %s not ready after %s", p.name, timeout)
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits up to timeout for the process to exit; it
// returns the exit code (-1 when killed by a signal).
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
	select {
	case <-p.done:
	case <-time.After(timeout):
		require.FailNow(p.t, "process did not exit", "mediapipe %s after %s within %s", p.name, sig, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// run runs a one-shot command and returns its exit code and output.
func (e *env) run(args ...string) (int, string) {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = e.environ(nil)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); !ok {
		require.NoError(e.t, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

func newMessageID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "3EB0" + strings.ToUpper(hex.EncodeToString(b))
}

// post sends a webhook to an ingest and requires a 202.
func (e *env) post(ingest *proc, instance string, body []byte) {
	e.t.Helper()
	resp, err := http.Post("http://"+ingest.addr+"/webhooks/wapi?token="+e.secrets[instance], "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(e.t, http.StatusAccepted, resp.StatusCode)
}

type row struct {
	Status, Reason, Path string
	Size                 int64
	Attempts             int
}

// rows returns the media rows of instance's messages, by message id; a
// message with more than one row fails the test.
func (e *env) rows(instance string, msgIDs []string) map[string]row {
	e.t.Helper()
	rs, err := e.store.Pool.Query(context.Background(), `
		SELECT message_id, download_status, coalesce(failure_reason, ''), coalesce(file_path, ''),
			coalesce(file_size, 0), attempts
		FROM media_files WHERE instance_id = $1 AND message_id = ANY($2)`, instance, msgIDs)
	require.NoError(e.t, err)
	defer rs.Close()
	out := map[string]row{}
	for rs.Next() {
		var id string
		var r row
		require.NoError(e.t, rs.Scan(&id, &r.Status, &r.Reason, &r.Path, &r.Size, &r.Attempts))
		_, dup := out[id]
		require.False(e.t, dup, "one row per message: %s", id)
		out[id] = r
	}
	require.NoError(e.t, rs.Err())
	return out
}

// poll calls cond every few milliseconds until it is true or timeout passes.
func poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "%s: not within %s", what, timeout)
		time.Sleep(10 * time.Millisecond)
	}
}

// files lists the regular files under MEDIA_DIR, temporary ones included,
// with their sizes.
func (e *env) files() map[string]int64 {
	e.t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(e.media, func(path string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				rel, _ := filepath.Rel(e.media, path)
				out[filepath.ToSlash(rel)] = fi.Size()
			}
		}
		return nil
	})
	require.NoError(e.t, err)
	return out
}

func isTemp(rel string) bool { return strings.HasSuffix(rel, ".part") }
