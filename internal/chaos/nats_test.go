package chaos_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/proctest"
)

// natsServer is a nats-server process with JetStream on file storage; a
// restart keeps its store and port, so clients reconnect to the same URL
// and find every stored message.
type natsServer struct {
	dir     string
	port    int
	monitor int
	conf    string
	log     *proctest.LockedBuffer
	p       *proctest.Proc
	URL     string
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{dir: t.TempDir(), port: proctest.FreePort(t), monitor: proctest.FreePort(t), log: &proctest.LockedBuffer{}}
	n.conf = filepath.Join(n.dir, "nats.conf")
	// max_payload above WEBHOOK_MAX_BYTES plus headers, as production needs
	// (bus.EmbeddedMaxPayload).
	conf := fmt.Sprintf(`server_name: chaos
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
}
`, n.port, n.monitor, filepath.Join(n.dir, "store"))
	require.NoError(t, os.WriteFile(n.conf, []byte(conf), 0o600))
	n.URL = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	n.start(t)
	t.Cleanup(func() {
		halt(t, n.p, syscall.SIGKILL, 10*time.Second)
		if t.Failed() {
			t.Logf("--- nats-server log:\n%s", proctest.Tail(n.log.String(), 3000))
		}
	})
	return n
}

func (n *natsServer) start(t testing.TB) {
	t.Helper()
	n.p = proctest.Start(t, proctest.Command{
		Name: "nats-server", Path: natsBin.Path, Args: []string{"-c", n.conf}, Env: proctest.Environ(), Log: n.log,
	})
	// /healthz?js-enabled-only... answers 200 once JetStream is up.
	n.p.WaitHTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitor), 60*time.Second)
}

// restart stops the server with sig (SIGTERM: a clean shutdown; SIGKILL: a
// crash), calls down while it is down, and starts it again on the same
// store and port.
func (n *natsServer) restart(t testing.TB, sig syscall.Signal, down func()) {
	t.Helper()
	start := time.Now()
	halt(t, n.p, sig, 30*time.Second)
	down()
	n.start(t)
	t.Logf("NATS (%s) was down for %s", sig, time.Since(start).Round(time.Millisecond))
}
