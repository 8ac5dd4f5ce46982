package scaletest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/catalog/operator"
	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// mediapipe is the binary built once by TestMain.
var mediapipe = &proctest.Binary{Name: "mediapipe", Package: proctest.MediapipePackage}

func TestMain(m *testing.M) { proctest.Main(m, "mediapipe-scaletest-", mediapipe) }

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
		vars:    proctest.MediapipeEnv(dbURL, natsURL, data, sim),
	}
	for k, v := range extra {
		d.vars[k] = v
	}
	for i, inst := range []string{wasim.InstancePro, wasim.InstanceLite} {
		res, err := operator.New(store).Register(context.Background(), "Cliente "+strconv.Itoa(i+1), inst, wapiToken)
		require.NoError(t, err)
		sim.AddInstance(inst, wapiToken)
		d.secrets[inst] = res.WebhookSecret
	}
	return d
}

// start runs `mediapipe <role>` named name with the deployment's variables
// plus extra, on a free HTTP_ADDR, and waits until it answers /readyz. It is
// killed at cleanup if it still runs; its log is printed when the test failed.
func (d *deployment) start(name, role string, extra map[string]string) *proctest.Proc {
	d.t.Helper()
	addr := proctest.FreeAddr(d.t)
	p := proctest.Start(d.t, proctest.Command{
		Name: name, Path: mediapipe.Path, Args: []string{role},
		Env: proctest.Environ(d.vars, extra, map[string]string{"HTTP_ADDR": addr}), Addr: addr,
	})
	p.KillAtCleanup(5000)
	p.WaitReady(60 * time.Second)
	return p
}

// poll calls cond every 20 ms until it is true or timeout passes.
func poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	proctest.PollEvery(t, 20*time.Millisecond, timeout, what, cond)
}

// files lists the regular files under the media directory with their sizes.
func (d *deployment) files() map[string]int64 {
	d.t.Helper()
	return proctest.MediaFiles(d.t, d.media)
}

// post sends one webhook to an ingest and returns the status (0 when the
// request got no answer).
func (d *deployment) post(client *http.Client, ingest *proctest.Proc, instance string, body []byte) int {
	resp, err := client.Post("http://"+ingest.Addr+"/webhooks/wapi?token="+d.secrets[instance], "application/json", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
