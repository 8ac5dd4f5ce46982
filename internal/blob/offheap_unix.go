//go:build unix

package blob

import "syscall"

// offHeap returns n bytes of anonymous memory mapped outside the Go heap,
// never to be unmapped: the store's part buffers, kept for the life of the
// process. Memory the collector does not manage does not count towards its
// heap goal, which would otherwise let the heap grow by as much again as
// the buffers hold.
func offHeap(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}
