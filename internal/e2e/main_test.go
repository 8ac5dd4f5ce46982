package e2e_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// mediapipe is the binary built by TestMain; MEDIAPIPE_E2E_BIN runs the
// tests against one built beforehand (benchmarks comparing builds).
var mediapipe = &proctest.Binary{Name: "mediapipe", Package: proctest.MediapipePackage, Env: "MEDIAPIPE_E2E_BIN"}

func TestMain(m *testing.M) { proctest.Main(m, "mediapipe-e2e-", mediapipe) }

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
		vars: proctest.MediapipeEnv(dbURL, natsURL, data, sim),
	}
	if len(instances) == 0 {
		instances = []string{wasim.InstancePro}
	}
	for i, inst := range instances {
		res, err := operator.New(store).Register(context.Background(), "Cliente "+strconv.Itoa(i), inst, wapiToken)
		require.NoError(t, err)
		sim.AddInstance(inst, wapiToken)
		e.secrets[inst], e.cliente[inst] = res.WebhookSecret, res.ClienteID
	}
	return e
}

// start runs `mediapipe <args>` with the env's variables and a free
// HTTP_ADDR and waits until it answers /readyz. The process is killed at
// cleanup if it still runs; its log is printed when the test failed.
func (e *env) start(args ...string) *proctest.Proc {
	e.t.Helper()
	addr := proctest.FreeAddr(e.t)
	p := proctest.Start(e.t, proctest.Command{
		Name: "mediapipe " + strings.Join(args, " "), Path: mediapipe.Path, Args: args,
		Env: proctest.Environ(e.vars, map[string]string{"HTTP_ADDR": addr}), Addr: addr,
	})
	p.KillAtCleanup(6000)
	p.WaitReady(30 * time.Second)
	return p
}

// run runs a one-shot command and returns its exit code and output.
func (e *env) run(args ...string) (int, string) {
	e.t.Helper()
	cmd := exec.Command(mediapipe.Path, args...)
	cmd.Env = proctest.Environ(e.vars)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); !ok {
		require.NoError(e.t, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// post sends a webhook to an ingest and requires a 202.
func (e *env) post(ingest *proctest.Proc, instance string, body []byte) {
	e.t.Helper()
	resp, err := http.Post("http://"+ingest.Addr+"/webhooks/wapi?token="+e.secrets[instance], "application/json", bytes.NewReader(body))
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
	rs, err := pgtest.DB(e.t, e.store).Query(context.Background(), `
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

// files lists the regular files under MEDIA_DIR, temporary ones included,
// with their sizes.
func (e *env) files() map[string]int64 {
	e.t.Helper()
	return proctest.MediaFiles(e.t, e.media)
}

func isTemp(rel string) bool { return strings.HasSuffix(rel, ".part") }
