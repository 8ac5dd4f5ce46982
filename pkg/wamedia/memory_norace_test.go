//go:build !race

package wamedia

import "testing"

// 1 GiB through Decrypt in constant memory. Under the race detector the
// smaller version in memory_race_test.go runs instead.
func TestDecryptStreamsGiB(t *testing.T)      { streamThrough(t, 1<<30, false) }
func TestDecryptStreamsParallel(t *testing.T) { streamThrough(t, 256<<20, true) }
