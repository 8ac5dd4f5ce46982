package natstest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/multichat/mediapipe/internal/bus"
)

// Cluster is a NATS cluster of in-process servers with JetStream, each on its
// own loopback ports and store directory, routed to each other as a
// production cluster is (server names n1, n2, ...). It lives until the test
// ends.
type Cluster struct {
	t    testing.TB
	Name string // the cluster name

	mu      sync.Mutex
	names   []string
	servers map[string]*server.Server // running servers by name; a stopped one is removed
}

// StartCluster starts an n-node cluster on 127.0.0.1 and waits until every
// server is healthy: routed to the others, with JetStream current and a
// JetStream meta leader elected. The servers are shut down when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest.StartCluster: want at least 1 server, got %d", n)
	}
	c := &Cluster{t: t, Name: "mediapipe-test", servers: map[string]*server.Server{}}
	t.Cleanup(c.shutdownAll)

	// Route ports must be known before the servers start: every server
	// lists every other, as a production configuration does.
	ports := freePorts(t, n)
	routes := make([]*url.URL, n)
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)}
	}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		srv, err := server.NewServer(&server.Options{
			ServerName: name,
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   filepath.Join(t.TempDir(), name),
			MaxPayload: bus.EmbeddedMaxPayload,
			Cluster: server.ClusterOpts{
				Name: c.Name,
				Host: "127.0.0.1",
				Port: ports[i],
			},
			Routes: routes,
			NoSigs: true,
			NoLog:  true,
		})
		if err != nil {
			t.Fatalf("natstest.StartCluster: configuring %s: %v", name, err)
		}
		srv.Start()
		c.mu.Lock()
		c.names = append(c.names, name)
		c.servers[name] = srv
		c.mu.Unlock()
	}
	for _, name := range c.names {
		if !c.servers[name].ReadyForConnections(10 * time.Second) {
			t.Fatalf("natstest.StartCluster: %s does not accept clients", name)
		}
	}
	c.WaitHealthy(t, 60*time.Second)
	return c
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	lns := make([]net.Listener, n)
	ports := make([]int, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: reserving a port: %v", err)
		}
		lns[i], ports[i] = ln, ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// WaitHealthy waits until every running server reports healthy (its
// /healthz: JetStream enabled and current, a meta leader known).
func (c *Cluster) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var sick []string
		for name, srv := range c.Running() {
			if st := srv.Healthz(nil); st.Status != "ok" {
				sick = append(sick, name+": "+st.Error)
			}
		}
		if len(sick) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: cluster not healthy after %s: %s", timeout, strings.Join(sick, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Running returns the running servers by name.
func (c *Cluster) Running() map[string]*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*server.Server, len(c.servers))
	for k, v := range c.servers {
		out[k] = v
	}
	return out
}

// ClientURLs returns the client URLs of the running servers in start order.
func (c *Cluster) ClientURLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, name := range c.names {
		if srv := c.servers[name]; srv != nil {
			out = append(out, srv.ClientURL())
		}
	}
	return out
}

// URL returns the client URLs of the running servers as one comma-separated
// NATS_URL, as a production deployment lists its cluster.
func (c *Cluster) URL() string { return strings.Join(c.ClientURLs(), ",") }

// Stop shuts the server called name down at once (no lame-duck mode, no
// leadership transfer: the rest of the cluster sees it vanish) and waits
// until it stopped.
func (c *Cluster) Stop(name string) {
	c.mu.Lock()
	srv := c.servers[name]
	delete(c.servers, name)
	c.mu.Unlock()
	if srv == nil {
		c.t.Fatalf("natstest: no running server %q in the cluster", name)
	}
	bus.ShutdownEmbedded(srv)
}

func (c *Cluster) shutdownAll() {
	for name, srv := range c.Running() {
		c.mu.Lock()
		delete(c.servers, name)
		c.mu.Unlock()
		bus.ShutdownEmbedded(srv)
	}
}
