package chaos_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/proctest"
)

// postgres is a PostgreSQL instance of the test's own, so that restarting it
// disturbs no other package's tests: Debian's binaries, a data directory
// under the system temp dir, a free port on 127.0.0.1, run as the postgres
// user when the test runs as root (initdb refuses root).
type postgres struct {
	bin  string // directory of initdb, pg_ctl, postgres
	dir  string // data directory
	port int
	cred *syscall.Credential // nil: run as the test's user
	log  string              // server log file
	URL  string
}

// findPostgres returns the bin directory of the newest PostgreSQL installed
// under /usr/lib/postgresql, or "".
func findPostgres() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// startPostgres initialises and starts a private instance with database
// "mediapipe"; it is stopped and removed when the test ends.
func startPostgres(t *testing.T) *postgres {
	t.Helper()
	bin := findPostgres()
	if bin == "" {
		ciOrSkip(t, "no PostgreSQL binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	p := &postgres{bin: bin, port: proctest.FreePort(t)}
	root, err := os.MkdirTemp("", "mediapipe-chaos-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			ciOrSkip(t, "running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		require.NoError(t, os.Chown(root, int(uid), int(gid)))
	}
	p.dir, p.log = filepath.Join(root, "data"), filepath.Join(root, "server.log")
	p.run(t, "initdb", "-D", p.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	p.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(p.log); err == nil {
				t.Logf("--- PostgreSQL log:\n%s", proctest.Tail(string(b), 4000))
			}
		}
		p.pgctl(t, "stop", "-m", "immediate")
	})
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/mediapipe?sslmode=disable", p.port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE mediapipe")
	require.NoError(t, err)
	return p
}

// run runs a PostgreSQL binary as the server's user.
func (p *postgres) run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Env = proctest.Environ(map[string]string{"LC_ALL": "C"})
	cmd.Dir = os.TempDir()
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(p.log)
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out, proctest.Tail(string(log), 3000))
	}
	return string(out)
}

func (p *postgres) pgctl(t testing.TB, args ...string) {
	t.Helper()
	p.run(t, "pg_ctl", append([]string{"-D", p.dir, "-w", "-t", "60"}, args...)...)
}

// start starts the server and waits until it accepts connections. fsync is
// off: the test kills the server process, not the machine, so whatever a
// commit wrote is in the page cache and survives; synchronous_commit stays
// on, so an acknowledged commit has been written.
func (p *postgres) start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
		p.port, p.dir)
	p.pgctl(t, "-l", p.log, "-o", opts, "start")
}

// restart stops the server the hard way (immediate: every backend is
// killed, the next start runs crash recovery), calls down while it is down,
// and starts it again.
func (p *postgres) restart(t testing.TB, down func()) {
	t.Helper()
	start := time.Now()
	p.pgctl(t, "stop", "-m", "immediate")
	down()
	p.start(t)
	t.Logf("PostgreSQL (immediate stop) was down for %s", time.Since(start).Round(time.Millisecond))
}
