package chaos_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Binaries built once by TestMain (not under -short, where the process
// tests skip).
var (
	mediapipeBin string
	natsBin      string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "mediapipe-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mediapipeBin, natsBin = filepath.Join(dir, "mediapipe"), filepath.Join(dir, "nats-server")
	for bin, pkg := range map[string]string{
		mediapipeBin: "github.com/multichat/mediapipe/cmd/mediapipe",
		// The server of the module version go.mod pins, as a process that
		// can be stopped and killed like a production one.
		natsBin: "github.com/nats-io/nats-server/v2",
	} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's output.
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

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a running subprocess.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error // valid once done is closed
}

// spawn starts bin with args and env, its output into log (shared by the
// successive incarnations of one role).
func spawn(t testing.TB, name, bin string, args, env []string, log *lockedBuffer) *proc {
	t.Helper()
	p := &proc{name: name, log: log, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = log, log
	require.NoError(t, p.cmd.Start(), "starting %s", name)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to timeout for the process to exit.
func (p *proc) signal(t testing.TB, sig syscall.Signal, timeout time.Duration) {
	t.Helper()
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %s of %s", p.name, timeout, sig)
	}
}

// waitHTTP polls url until it answers 200, the process exits or timeout
// passes.
func waitHTTP(t testing.TB, p *proc, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if !p.running() {
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.err, tail(p.log.String(), 4000))
		}
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s\n%s", p.name, timeout, tail(p.log.String(), 4000))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// baseEnv is the environment every subprocess starts from.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	return env
}

func envList(m map[string]string) []string {
	out := baseEnv()
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// needProcesses skips (or, under CI=true, fails) when a process test cannot
// run here.
func needProcesses(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("process chaos test: skipped with -short")
	}
	if mediapipeBin == "" {
		t.Fatal("TestMain did not build the binaries")
	}
}

func ciOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
