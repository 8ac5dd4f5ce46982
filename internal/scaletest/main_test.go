package scaletest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// bin is the mediapipe binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mediapipe-scaletest-")
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

// deployment is what every process of a scaled deployment shares: one
// PostgreSQL schema, one NATS (a server or a cluster), one media directory
// (the ReadWriteMany volume of deploy/k8s), and the simulator standing in
// for W-API and WhatsApp's CDN.
type deployment struct {
	t       testing.TB
	store   *catalog.Store
	sim     *wasim.Server
	media   string
	vars    map[string]string
	secrets map[string]string // instance → webhook secret
}

const wapiToken = "wapi-token-scaletest"

func newDeployment(t testing.TB, natsURL string, extra map[string]string) *deployment {
	t.Helper()
	store, dbURL := pgtest.NewStore(t)
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	data := t.TempDir()
	d := &deployment{
		t: t, store: store, sim: sim, media: filepath.Join(data, "media"),
		secrets: map[string]string{},
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
	for k, v := range extra {
		d.vars[k] = v
	}
	for i, inst := range []string{wasim.InstancePro, wasim.InstanceLite} {
		res, err := store.AddTenant(context.Background(), "Cliente "+strconv.Itoa(i+1), inst, wapiToken)
		require.NoError(t, err)
		sim.AddInstance(inst, wapiToken)
		d.secrets[inst] = res.WebhookSecret
	}
	return d
}

// proc is a running mediapipe subprocess.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	addr string // its HTTP_ADDR
	log  *lockedBuffer
	done chan struct{}
	err  error // set before done is closed
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

// start runs `mediapipe <role>` named name with the deployment's variables
// plus extra, on a free HTTP_ADDR, and waits until it answers /readyz. It is
// killed at cleanup if it still runs; its log is printed when the test failed.
func (d *deployment) start(name, role string, extra map[string]string) *proc {
	d.t.Helper()
	p := &proc{t: d.t, name: name, addr: freeAddr(d.t), log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, role)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "HTTP_ADDR=" + p.addr}
	for k, v := range d.vars {
		if _, ok := extra[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(d.t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	d.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if d.t.Failed() {
			d.t.Logf("--- log of %s (mediapipe %s, pid %d):\n%s", p.name, role, p.cmd.Process.Pid, tail(p.log.String(), 5000))
		}
	})
	p.waitReady(60 * time.Second)
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
	client := &http.Client{Timeout: time.Second}
	poll(p.t, timeout, p.name+" ready", func() bool {
		select {
		case <-p.done:
			require.FailNow(p.t, "process exited before it was ready", "%s: %v\n%s", p.name, p.err, tail(p.log.String(), 4000))
		default:
		}
		resp, err := client.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stop sends sig and waits up to timeout for the process to exit; it
// returns the exit code.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
	select {
	case <-p.done:
	case <-time.After(timeout):
		require.FailNow(p.t, "process did not exit", "%s after %s within %s", p.name, sig, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// logEntries returns the JSON log lines of the process whose "msg" is msg.
func (p *proc) logEntries(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.log.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(msg)) {
			continue
		}
		var e map[string]any
		if json.Unmarshal(line, &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// metric scrapes the process's /metrics and returns the value of the sample
// whose name and labels (e.g. `outcome="success"`) match; 0 when absent.
func (p *proc) metric(name, labels string) float64 {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	require.NoError(p.t, err)
	defer resp.Body.Close()
	require.Equal(p.t, http.StatusOK, resp.StatusCode)
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if key, val, ok := strings.Cut(line, " "); ok && key == want {
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			require.NoError(p.t, err, line)
			return f
		}
	}
	require.NoError(p.t, sc.Err())
	return 0
}

// poll calls cond every few milliseconds until it is true or timeout passes.
func poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "%s: not within %s", what, timeout)
		time.Sleep(20 * time.Millisecond)
	}
}

// files lists the regular files under the media directory with their sizes.
func (d *deployment) files() map[string]int64 {
	d.t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(d.media, func(path string, e os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				rel, _ := filepath.Rel(d.media, path)
				out[filepath.ToSlash(rel)] = fi.Size()
			}
		}
		return nil
	})
	require.NoError(d.t, err)
	return out
}

// post sends one webhook to an ingest and returns the status (0 when the
// request got no answer).
func (d *deployment) post(client *http.Client, ingest *proc, instance string, body []byte) int {
	resp, err := client.Post("http://"+ingest.addr+"/webhooks/wapi?token="+d.secrets[instance], "application/json", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
