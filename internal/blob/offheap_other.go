//go:build !unix

package blob

import "errors"

// offHeap is not available here: part buffers come from the Go heap.
func offHeap(int) ([]byte, error) { return nil, errors.New("no anonymous mappings on this system") }
