// Package natstest starts throw-away in-process NATS servers with JetStream
// for tests: one per test, storing under t.TempDir(), shut down at cleanup.
package natstest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/multichat/mediapipe/internal/bus"
)

// started remembers where each server stores its data and listens, so that
// Restart can bring up its successor on the same store and port.
var started sync.Map // *server.Server → bus.EmbeddedOptions

// Start starts an embedded server with JetStream on a random port, storing
// under t.TempDir(), and shuts it down when the test ends. It returns the
// client URL and the server.
func Start(t testing.TB) (string, *server.Server) {
	t.Helper()
	return start(t, bus.EmbeddedOptions{StoreDir: t.TempDir()})
}

// Restart shuts srv down and starts a new server on the same store directory
// and port, so that stored messages survive and connected clients reconnect
// to the same URL. The old server must come from Start or Restart.
func Restart(t testing.TB, srv *server.Server) *server.Server {
	t.Helper()
	v, ok := started.Load(srv)
	if !ok {
		t.Fatalf("natstest.Restart: server was not started by natstest")
	}
	opts := v.(bus.EmbeddedOptions)
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("natstest.Restart: server has no TCP listener")
	}
	opts.Port = addr.Port
	bus.ShutdownEmbedded(srv)
	started.Delete(srv)

	// The old listener's port may linger briefly in the kernel.
	var (
		next *server.Server
		err  error
	)
	deadline := time.Now().Add(10 * time.Second)
	for {
		next, _, err = bus.StartEmbedded(opts)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("natstest.Restart: %v", err)
	}
	register(t, next, opts)
	return next
}

// Connect connects to url and returns the connection and its JetStream
// context; the connection is closed when the test ends.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := bus.Connect(ctx, url, t.Name(), nil)
	if err != nil {
		t.Fatalf("natstest.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

func start(t testing.TB, opts bus.EmbeddedOptions) (string, *server.Server) {
	t.Helper()
	srv, url, err := bus.StartEmbedded(opts)
	if err != nil {
		t.Fatalf("natstest.Start: %v", err)
	}
	register(t, srv, opts)
	return url, srv
}

func register(t testing.TB, srv *server.Server, opts bus.EmbeddedOptions) {
	started.Store(srv, opts)
	t.Cleanup(func() {
		bus.ShutdownEmbedded(srv)
		started.Delete(srv)
	})
}
