package bus_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/multichat/mediapipe/internal/bus"
)

// TestEmbeddedServerRequiresCredentials starts the embedded server with the
// credentials of a DATA_DIR: a client without them, or with a wrong
// password, can neither subscribe nor publish; a client with them can, and
// reaches JetStream.
func TestEmbeddedServerRequiresCredentials(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	creds, err := bus.EmbeddedCredentials(dataDir)
	require.NoError(t, err)
	srv, url, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(dataDir, "nats"), Credentials: &creds})
	require.NoError(t, err)
	defer bus.ShutdownEmbedded(srv)
	require.True(t, strings.HasPrefix(url, "nats://127.0.0.1:"), "loopback only: %s", url)

	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": {nats.UserInfo(creds.User, creds.Password+"x")},
		"token":          {nats.Token(creds.Password)},
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := nats.Connect(url, opts...)
			require.ErrorIs(t, err, nats.ErrAuthorization)
			require.Nil(t, nc)
		})
	}

	t.Run("with credentials", func(t *testing.T) {
		nc, err := nats.Connect(url, nats.UserInfo(creds.User, creds.Password))
		require.NoError(t, err)
		defer nc.Close()
		sub, err := nc.SubscribeSync("webhooks.wapi.x")
		require.NoError(t, err)
		require.NoError(t, nc.Publish("webhooks.wapi.x", []byte("hi")))
		msg, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		require.Equal(t, "hi", string(msg.Data))
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		_, err = js.AccountInfo(testCtx(t))
		require.NoError(t, err, "JetStream is enabled for the authenticated user")
	})

	t.Run("Connect refuses at once with a clear error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		_, _, err := bus.ConnectWith(ctx, url, "intruder", nil, bus.ConnectOptions{User: creds.User, Password: "guess", WaitLogEvery: 50 * time.Millisecond})
		require.ErrorIs(t, err, bus.ErrCredentialsRefused)
		require.ErrorContains(t, err, "refused the credentials")
		require.NotContains(t, err.Error(), "guess")
		require.Less(t, time.Since(start), 10*time.Second)
	})

	t.Run("Connect with the credentials", func(t *testing.T) {
		nc, _, err := bus.ConnectWith(testCtx(t), url, "local", nil, bus.ConnectOptions{User: creds.User, Password: creds.Password})
		require.NoError(t, err)
		nc.Close()
	})
}

// TestEmbeddedCredentialsAreMadeOnce has many callers race for the
// credentials of one DATA_DIR: all get the same ones, from a file of mode
// 0600, with no temporary file left behind.
func TestEmbeddedCredentialsAreMadeOnce(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	const n = 8
	got := make([]bus.Credentials, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = bus.EmbeddedCredentials(dir)
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, got[0], got[i])
	}
	require.Len(t, got[0].Password, 64)
	info, err := os.Stat(filepath.Join(dir, bus.CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the credentials file")

	// A widened mode is narrowed again; the credentials stay.
	require.NoError(t, os.Chmod(filepath.Join(dir, bus.CredentialsFile), 0o644))
	again, err := bus.EmbeddedCredentials(dir)
	require.NoError(t, err)
	require.Equal(t, got[0], again)
	info, err = os.Stat(filepath.Join(dir, bus.CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// A damaged file is reported, not replaced.
	require.NoError(t, os.WriteFile(filepath.Join(dir, bus.CredentialsFile), []byte("{"), 0o600))
	_, err = bus.EmbeddedCredentials(dir)
	require.ErrorContains(t, err, "damaged")
}

// TestLockEmbedded: one holder of a DATA_DIR's embedded server at a time.
func TestLockEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.False(t, bus.EmbeddedRunning(dir))
	unlock, err := bus.LockEmbedded(dir)
	require.NoError(t, err)
	require.True(t, bus.EmbeddedRunning(dir))
	_, err = bus.LockEmbedded(dir)
	require.ErrorIs(t, err, bus.ErrEmbeddedRunning)
	unlock()
	require.False(t, bus.EmbeddedRunning(dir))
	unlock, err = bus.LockEmbedded(dir)
	require.NoError(t, err)
	unlock()
}

func TestCheckServerVersion(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{
		"2.10.0": true, "2.10.22": true, "2.15.2": true, "3.0.0": true, "2.11.0-beta.1": true, "v2.12.1": true,
		"2.9.10": false, "2.9.25": false, "1.4.1": false, "": false, "2.x": false,
	} {
		err := bus.CheckServerVersion(v)
		if ok {
			require.NoError(t, err, v)
			continue
		}
		require.ErrorIs(t, err, bus.ErrServerTooOld, v)
		require.ErrorContains(t, err, bus.MinServerVersion, v)
	}
}

// TestConnectRefusesNATS29 connects to the Debian 12 NATS server (2.9) on
// 127.0.0.1:4222: Connect refuses it, naming the version found and the
// minimum.
func TestConnectRefusesNATS29(t *testing.T) {
	t.Parallel()
	const url = "nats://127.0.0.1:4222"
	probe, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the NATS 2.9 server on %s is not reachable: %v", url, err)
		}
		t.Skipf("no NATS server on %s (%v): start the Debian nats-server to run this test", url, err)
	}
	version := probe.ConnectedServerVersion()
	probe.Close()
	if !strings.HasPrefix(version, "2.9.") {
		t.Skipf("the server on %s is %s, not 2.9", url, version)
	}
	_, _, err = bus.Connect(testCtx(t), url, "too-old", nil)
	require.ErrorIs(t, err, bus.ErrServerTooOld)
	require.ErrorContains(t, err, version)
	require.ErrorContains(t, err, "needs "+bus.MinServerVersion+" or newer")
}

// TestConnectLogsTheWaitAtInfo: an unreachable server is logged at info
// every WaitLogEvery with why, with the URL's password redacted.
func TestConnectLogsTheWaitAtInfo(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	url := "nats://mp:s3cret@127.0.0.1:" + strconv.Itoa(freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, _, err := bus.ConnectWith(ctx, url, "waiting", zap.New(core), bus.ConnectOptions{WaitLogEvery: 100 * time.Millisecond})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotContains(t, err.Error(), "s3cret")
	waits := logs.FilterMessage("waiting for NATS").All()
	require.GreaterOrEqual(t, len(waits), 3)
	last := waits[len(waits)-1].ContextMap()
	require.Contains(t, last["error"], "connection refused")
	require.NotContains(t, last["server"], "s3cret")
	require.Contains(t, last["server"], "127.0.0.1")
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "nats://redacted@a:4222,nats://b:4222", bus.RedactURL("nats://u:pw@a:4222,nats://b:4222"))
	require.Equal(t, "nats://redacted@a:4222", bus.RedactURL("nats://token@a:4222"))
}
