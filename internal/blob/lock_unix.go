//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package blob

import (
	"errors"
	"os"
	"syscall"
)

// lockWriter takes the exclusive lock a writer holds on its temporary file
// until the file is renamed into place or removed. The kernel drops it when
// the process dies, however it dies.
func lockWriter(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// tryLock takes the lock without waiting. held reports that another open
// file holds it; any other error means locks cannot tell (unsupported).
func tryLock(f *os.File) (locked, held bool) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return err == nil, errors.Is(err, syscall.EWOULDBLOCK)
}
