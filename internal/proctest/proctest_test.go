package proctest_test

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// helperEnv makes the test binary act as a subprocess (see TestMain).
const helperEnv = "PROCTEST_HELPER"

// TestMain turns the test binary into a small server when helperEnv is
// set: it logs a JSON line, serves /readyz and /metrics on HTTP_ADDR and
// exits 0 on SIGTERM ("serve"), or exits 3 at once ("exit").
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "exit":
		fmt.Println(`{"msg":"giving up"}`)
		os.Exit(3)
	case "serve":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		http.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {})
		http.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "# TYPE jobs_total counter\njobs_total{outcome=\"success\"} 7\njobs_total{outcome=\"failed\"} 2\nup 1\n")
		})
		go func() {
			fmt.Fprintln(os.Stderr, http.ListenAndServe(os.Getenv("HTTP_ADDR"), nil))
			os.Exit(2)
		}()
		fmt.Println(`{"level":"info","msg":"started","n":1}`)
		fmt.Println(`not json: started`)
		fmt.Println(`{"level":"info","msg":"started twice","n":2}`)
		<-sigs
		os.Exit(0)
	}
}

func helper(t *testing.T, mode string) *proctest.Proc {
	t.Helper()
	addr := proctest.FreeAddr(t)
	p := proctest.Start(t, proctest.Command{
		Name: "helper " + mode, Path: os.Args[0],
		Env: proctest.Environ(map[string]string{helperEnv: mode, "HTTP_ADDR": addr}), Addr: addr,
	})
	p.KillAtCleanup(2000)
	return p
}

func TestProcServesAndStops(t *testing.T) {
	p := helper(t, "serve")
	p.WaitReady(30 * time.Second)
	require.True(t, p.Running())
	require.NoError(t, p.Err())
	require.Positive(t, p.Pid())
	require.Equal(t, 7.0, p.Metric("jobs_total", `outcome="success"`))
	require.Equal(t, 1.0, p.Metric("up", ""))
	require.Zero(t, p.Metric("absent_total", ""))
	proctest.Poll(t, 10*time.Second, "the log line", func() bool { return len(p.LogEntries("started")) == 1 })
	require.Equal(t, []map[string]any{{"level": "info", "msg": "started", "n": 1.0}}, p.LogEntries("started"))
	require.Equal(t, 0, p.Stop(syscall.SIGTERM, 30*time.Second))
	require.False(t, p.Running())
	require.NoError(t, p.Err())
}

func TestProcKilledBySignal(t *testing.T) {
	p := helper(t, "serve")
	p.WaitReady(30 * time.Second)
	require.Equal(t, -1, p.Stop(syscall.SIGKILL, 10*time.Second))
	require.Error(t, p.Err())
}

func TestProcExits(t *testing.T) {
	p := helper(t, "exit")
	proctest.Poll(t, 30*time.Second, "the exit", func() bool { return !p.Running() })
	require.ErrorContains(t, p.Err(), "exit status 3")
	require.Contains(t, p.Log.String(), "giving up")
}

func TestEnviron(t *testing.T) {
	env := proctest.Environ(map[string]string{"A": "1", "B": "2"}, map[string]string{"B": "3"})
	require.Equal(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "A=1", "B=3"}, env)
	require.Len(t, proctest.Environ(), 3)
}

func TestBuildTakesTheBinaryFromEnv(t *testing.T) {
	t.Setenv("PROCTEST_BIN", "/some/where/mediapipe")
	b := &proctest.Binary{Name: "mediapipe", Package: proctest.MediapipePackage, Env: "PROCTEST_BIN"}
	cleanup, err := proctest.Build("proctest-", b)
	require.NoError(t, err)
	cleanup()
	require.Equal(t, "/some/where/mediapipe", b.Path)
}

func TestLockedBufferAndTail(t *testing.T) {
	var b proctest.LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	require.Equal(t, strings.Repeat("x", 800), b.String())
	require.Equal(t, "abc", proctest.Tail("abc", 3))
	require.Equal(t, "…bc", proctest.Tail("abc", 2))
}

func TestMediaFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "media")
	require.Empty(t, proctest.MediaFiles(t, dir), "no directory yet")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "1", "ab"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "1", "ab", "f.jpg"), []byte("12345"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.part"), nil, 0o644))
	require.Equal(t, map[string]int64{"1/ab/f.jpg": 5, "x.part": 0}, proctest.MediaFiles(t, dir))
}

func TestNewMessageIDAndFreePorts(t *testing.T) {
	id := proctest.NewMessageID()
	require.Regexp(t, regexp.MustCompile(`^3EB0[0-9A-F]{16}$`), id)
	require.NotEqual(t, id, proctest.NewMessageID())
	require.Positive(t, proctest.FreePort(t))
	require.True(t, strings.HasPrefix(proctest.FreeAddr(t), "127.0.0.1:"))
}

func TestPollEvery(t *testing.T) {
	n := 0
	proctest.PollEvery(t, time.Millisecond, 10*time.Second, "three calls", func() bool { n++; return n == 3 })
	require.Equal(t, 3, n)
}

func TestMediapipeEnv(t *testing.T) {
	sim, err := wasim.New(wasim.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	env := proctest.MediapipeEnv("postgres://db", "nats://bus", "/data", sim)
	require.Equal(t, "/data/media", env["MEDIA_DIR"])
	require.Equal(t, sim.CDNBaseURL(), env["WHATSAPP_CDN_BASE_URL"])
	require.Equal(t, sim.WAPIBaseURL(), env["WAPI_BASE_URL"])
	require.Equal(t, sim.ZAPIStorageBaseURL(), env["ZAPI_STORAGE_BASE_URL"])
	require.Equal(t, sim.MetaGraphBaseURL(), env["META_GRAPH_BASE_URL"])
	require.Equal(t, wasim.MetaGraphVersion, env["META_GRAPH_VERSION"])
	require.Len(t, env, 11)
}
