//go:build linux

package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// without waiting for it (sync_file_range with SYNC_FILE_RANGE_WRITE). The
// final fsync then finds most pages already clean: a large file's commit
// does not stall for seconds at the end, and the page cache does not pile
// up dirty pages of files still being written. Errors are ignored: fsync
// at commit is what makes the file durable and reports failures.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
