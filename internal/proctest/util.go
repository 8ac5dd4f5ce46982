package proctest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// LockedBuffer is a bytes.Buffer that a process's output (or a logger) may
// write to while a test reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail returns the last n bytes of s, marked with a leading "…" when
// something was cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Poll calls cond every 10 ms until it is true; timeout passing first
// fails the test, naming what was awaited.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	PollEvery(t, 10*time.Millisecond, timeout, what, cond)
}

// PollEvery is Poll calling cond every interval.
func PollEvery(t testing.TB, interval, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "%s: not within %s", what, timeout)
		time.Sleep(interval)
	}
}

// MediaFiles lists the regular files under dir (a MEDIA_DIR), temporary
// ones included, by slash-separated path relative to dir, with their sizes.
// A dir that does not exist (yet) holds no file.
func MediaFiles(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				rel, _ := filepath.Rel(dir, path)
				out[filepath.ToSlash(rel)] = fi.Size()
			}
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// NewMessageID returns a random WhatsApp-like message id ("3EB0" and 16
// upper-case hex digits).
func NewMessageID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "3EB0" + strings.ToUpper(hex.EncodeToString(b))
}
