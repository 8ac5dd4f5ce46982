//go:build race

package wamedia

import "testing"

// The race detector slows the pipe and the hashing goroutine: stream 128 MiB
// (the 1 GiB version runs without -race, in memory_norace_test.go).
func TestDecryptStreamsRace(t *testing.T)         { streamThrough(t, 128<<20, false) }
func TestDecryptStreamsParallelRace(t *testing.T) { streamThrough(t, 128<<20, true) }
