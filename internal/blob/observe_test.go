package blob_test

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/blob"
	"github.com/multichat/mediapipe/internal/blob/blobtest"
	"github.com/multichat/mediapipe/internal/s3test"
)

// opLog records what an Observed store reports.
type opLog struct {
	mu   sync.Mutex
	ops  map[string]int
	errs map[string]int
}

func (l *opLog) observe(op string, _ time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops[op]++
	if err != nil {
		l.errs[op]++
	}
}

func (l *opLog) counts() (ops, errs map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return clone(l.ops), clone(l.errs)
}

func clone(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestObserved: the decorator the process times its store with keeps every
// promise of the store it wraps (the conformance suite, on both backends:
// Expect and Bind pass through), and reports each operation and its
// failures; a missing file is no failure.
func TestObserved(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	for _, tc := range []struct {
		name string
		new  func(t *testing.T) blob.Store
	}{
		{"file", func(t *testing.T) blob.Store { return newLocal(t) }},
		{"s3", func(t *testing.T) blob.Store { return newS3(t, srv, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			blobtest.StoreSuite(t, func(t *testing.T) blob.Store {
				return blob.Observe(tc.new(t), func(string, time.Duration, error) {})
			})

			log := &opLog{ops: map[string]int{}, errs: map[string]int{}}
			s := blob.Observe(tc.new(t), log.observe)
			content := bytes.Repeat([]byte("observed "), 1000)
			sum := sha256.Sum256(content)
			p, err := s.Create(7)
			require.NoError(t, err)
			require.NoError(t, p.Expect(sum[:], ".txt"))
			_, err = p.Write(content)
			require.NoError(t, err)
			st, err := p.Commit(sum[:], ".txt")
			require.NoError(t, err)
			f, err := s.Open(st.Path)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			_, err = s.Stat(st.Path)
			require.NoError(t, err)
			require.True(t, s.Exists(st.Path))
			require.NoError(t, s.Probe())
			_, err = s.CleanTemp(time.Hour)
			require.NoError(t, err)
			require.NoError(t, s.Remove(st.Path))
			_, err = s.Open(st.Path) // missing: reported, not as a failure
			require.Error(t, err)
			// An abandoned file: the abort is reported.
			p, err = s.Create(7)
			require.NoError(t, err)
			_, err = p.Write(content)
			require.NoError(t, err)
			require.NoError(t, p.Abort())
			// A closed Pending's writes fail before the store sees them.
			_, err = p.Write(content)
			require.ErrorIs(t, err, blob.ErrClosed)

			ops, errs := log.counts()
			require.Equal(t, map[string]int{"create": 2, "commit": 1, "open": 2, "stat": 1, "exists": 1, "probe": 1,
				"clean_temp": 1, "remove": 1, "abort": 1}, ops)
			require.Empty(t, errs)
			require.NoError(t, s.Unwrap().(interface{ Probe() error }).Probe())

			_, err = s.Presign(st.Path, time.Minute)
			if tc.name == "file" {
				require.ErrorIs(t, err, blob.ErrNoPresign)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// TestObservedErrors: a failing operation is counted as an error of its
// kind (an S3 server that went away).
func TestObservedErrors(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	log := &opLog{ops: map[string]int{}, errs: map[string]int{}}
	s := blob.Observe(newS3(t, srv, 0), log.observe)
	srv.Stop()
	require.Error(t, s.Probe())
	_, err := s.Stat("7/aa/bb/" + string(bytes.Repeat([]byte("a"), 64)) + ".txt")
	require.Error(t, err)
	_, errs := log.counts()
	require.Equal(t, 1, errs["probe"])
	require.Equal(t, 1, errs["stat"])
}
