package progress

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the terminal a command writes to
// and the master end that reads what it shows.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err)
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { tty.Close() })
	return master, tty
}

func TestTerminalDrawsOnARealTerminal(t *testing.T) {
	t.Parallel()
	master, tty := openPTY(t)
	require.True(t, IsTerminal(tty))
	b := New(tty, "replaying", 10)
	require.True(t, b.terminal)
	b.Set(4, 0)
	b.Finish()
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "\n") {
		n, err := master.Read(buf)
		require.NoError(t, err)
		got.Write(buf[:n])
	}
	require.Contains(t, got.String(), "replaying [=========               ] 4/10 ( 40%)")
	require.Contains(t, got.String(), "\x1b[Kreplaying: 4 of 10 in")
}
