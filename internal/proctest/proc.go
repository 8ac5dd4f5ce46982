package proctest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FreeAddr returns a 127.0.0.1 address with a TCP port that was free a
// moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A Command is what Start runs.
type Command struct {
	Name string   // names the process in messages
	Path string   // the executable
	Args []string // its arguments, after the executable's name
	Env  []string // its whole environment (see Environ)
	// Addr is the address its HTTP server listens on (for WaitReady and
	// Metric), when it has one.
	Addr string
	// Log receives the process's standard output and error; nil: a new
	// buffer. Successive incarnations of one role may share one.
	Log *LockedBuffer
}

// Proc is a started subprocess.
type Proc struct {
	Name string        // as the Command named it
	Addr string        // its HTTP address, as the Command gave it
	Log  *LockedBuffer // its standard output and error

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed once the process exited and was waited for
	err  error         // what Wait returned; set before done is closed
}

// Start starts c; it does not wait for anything. The process's exit is
// waited for in the background (see Running). Nothing kills it at the end
// of the test unless KillAtCleanup says so.
func Start(t testing.TB, c Command) *Proc {
	t.Helper()
	p := &Proc{Name: c.Name, Addr: c.Addr, Log: c.Log, t: t, done: make(chan struct{})}
	if p.Log == nil {
		p.Log = &LockedBuffer{}
	}
	p.cmd = exec.Command(c.Path, c.Args...)
	p.cmd.Env = c.Env
	p.cmd.Stdout, p.cmd.Stderr = p.Log, p.Log
	require.NoError(t, p.cmd.Start(), "starting %s", c.Name)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Err returns how the process ended (what exec.Cmd.Wait returned), nil
// while it runs.
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// KillAtCleanup has the process killed when the test ends if it still runs
// then, and, when the test failed, the last logTail bytes of its log logged.
func (p *Proc) KillAtCleanup(logTail int) {
	p.t.Cleanup(func() {
		if p.Running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if p.t.Failed() {
			p.t.Logf("--- log of %s (pid %d):\n%s", p.Name, p.Pid(), Tail(p.Log.String(), logTail))
		}
	})
}

// WaitReady waits until the process's /readyz (on Addr) answers 200; see
// WaitHTTP.
func (p *Proc) WaitReady(timeout time.Duration) {
	p.t.Helper()
	p.WaitHTTP("http://"+p.Addr+"/readyz", timeout)
}

// WaitHTTP polls url until it answers 200. The process exiting first, or
// timeout passing, fails the test with the end of the process's log.
func (p *Proc) WaitHTTP(url string, timeout time.Duration) {
	p.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if !p.Running() {
			p.t.Fatalf("%s exited before it was ready: %v\n%s", p.Name, p.err, Tail(p.Log.String(), 4000))
		}
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready after %s\n%s", p.Name, timeout, Tail(p.Log.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends sig and waits up to timeout for the process to exit, and
// returns its exit code (-1 when a signal ended it). A signal that cannot
// be sent (the process exited already) fails the test; so does a process
// still running after timeout, which is killed.
func (p *Proc) Stop(sig os.Signal, timeout time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: sending %s: %v", p.Name, sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s did not exit within %s of %s", p.Name, timeout, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Metric scrapes the process's /metrics (on Addr) and returns the value of
// the sample whose name and labels (e.g. `outcome="success"`, in the order
// the exposition writes them) match; 0 when there is none.
func (p *Proc) Metric(name, labels string) float64 {
	p.t.Helper()
	resp, err := http.Get("http://" + p.Addr + "/metrics")
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

// LogEntries returns the JSON lines of the process's log whose "msg" is
// msg, decoded; other lines are passed over.
func (p *Proc) LogEntries(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Log.String()))
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

// Wait waits up to timeout for the process to exit by itself and returns
// its exit code (-1 when a signal ended it); a process still running after
// timeout is killed and fails the test.
func (p *Proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s still ran after %s\n%s", p.Name, timeout, Tail(p.Log.String(), 4000))
	}
	return p.cmd.ProcessState.ExitCode()
}
