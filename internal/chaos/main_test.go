package chaos_test

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/multichat/mediapipe/internal/proctest"
)

// Binaries built once by TestMain (not under -short, where the process
// tests skip).
var (
	mediapipeBin = &proctest.Binary{Name: "mediapipe", Package: proctest.MediapipePackage}
	// The server of the module version go.mod pins, as a process that can
	// be stopped and killed like a production one.
	natsBin = &proctest.Binary{Name: "nats-server", Package: "github.com/nats-io/nats-server/v2"}
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	proctest.Main(m, "mediapipe-chaos-bin-", mediapipeBin, natsBin)
}

// halt sends sig to p, unless it exited already, and waits up to timeout
// for it to exit; a process still running then is killed and fails the
// test.
func halt(t testing.TB, p *proctest.Proc, sig os.Signal, timeout time.Duration) {
	t.Helper()
	if p.Running() {
		p.Stop(sig, timeout)
	}
}

// needProcesses skips (or, under CI=true, fails) when a process test cannot
// run here.
func needProcesses(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("process chaos test: skipped with -short")
	}
	if mediapipeBin.Path == "" {
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
