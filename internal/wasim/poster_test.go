package wasim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// receiver is a stand-in for the ingest endpoint: 202 for the right token,
// 401 otherwise, 400 for bad JSON.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []string // message ids
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func newReceiver(t *testing.T, secrets map[string]string, gate chan struct{}) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.inFlight.Add(1)
		defer rc.inFlight.Add(-1)
		for m := rc.maxIn.Load(); n > m && !rc.maxIn.CompareAndSwap(m, n); m = rc.maxIn.Load() {
		}
		var ev struct{ InstanceID, MessageID string }
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&ev) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		tok := r.URL.Query().Get("token")
		if tok == "" {
			tok = r.Header.Get("X-Webhook-Token")
		}
		if want, ok := secrets[ev.InstanceID]; !ok || tok != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if gate != nil {
			<-gate // held until the test lets go
		}
		rc.mu.Lock()
		rc.got = append(rc.got, ev.MessageID)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func TestPosterCountsAnswers(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{InstancePro: "s3cret-pro", InstanceLite: "s3cret-lite"}
	rc := newReceiver(t, secrets, nil)
	hooks := Mix(MixOptions{N: 60, Seed: 3})

	p := &Poster{Target: rc.srv.URL + "/webhooks/wapi?x=1", Secrets: secrets, Concurrency: 3}
	res, err := p.Post(context.Background(), hooks)
	require.NoError(t, err)
	require.Equal(t, 60, res.Sent)
	require.Zero(t, res.Errors)
	require.Equal(t, map[int]int{202: 60}, res.ByStatus)
	require.Len(t, res.Latencies, 60)
	require.Contains(t, res.String(), "202=60")

	// Only the PRO secret known: LITE webhooks are refused.
	p = &Poster{Target: rc.srv.URL, Secrets: map[string]string{InstancePro: "s3cret-pro"}, HeaderToken: true}
	res, err = p.Post(context.Background(), hooks)
	require.NoError(t, err)
	lite := 0
	for _, h := range hooks {
		if h.InstanceID == InstanceLite {
			lite++
		}
	}
	require.Positive(t, lite)
	require.Equal(t, map[int]int{202: 60 - lite, 401: lite}, res.ByStatus)
}

func TestPosterRateAndConcurrency(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{InstancePro: "a", InstanceLite: "b"}
	rc := newReceiver(t, secrets, nil)
	hooks := Mix(MixOptions{N: 30, Seed: 4})

	p := &Poster{Target: rc.srv.URL, Secrets: secrets, Rate: 100, Concurrency: 4}
	res, err := p.Post(context.Background(), hooks)
	require.NoError(t, err)
	require.Equal(t, 30, res.Sent)
	// 30 at 100/s with a burst of 1: the last leaves about 290 ms after the first.
	require.GreaterOrEqual(t, res.Elapsed, 250*time.Millisecond)
	require.LessOrEqual(t, res.Rate(), 115.0)

	gate := make(chan struct{})
	slow := newReceiver(t, secrets, gate)
	p = &Poster{Target: slow.srv.URL, Secrets: secrets, Concurrency: 3}
	done := make(chan Result)
	go func() {
		res, err := p.Post(context.Background(), hooks[:12])
		require.NoError(t, err)
		done <- res
	}()
	require.Eventually(t, func() bool { return slow.inFlight.Load() == 3 }, 5*time.Second, time.Millisecond)
	close(gate)
	res = <-done
	require.Equal(t, 12, res.ByStatus[202])
	require.EqualValues(t, 3, slow.maxIn.Load())
}

func TestPosterStopsWithContext(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := (&Poster{Target: rc.srv.URL, Rate: 1}).Post(ctx, Mix(MixOptions{N: 5}))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, res.Sent)

	_, err = (&Poster{Target: "ftp://x"}).Post(context.Background(), nil)
	require.Error(t, err)
}

func TestPosterErrorsHideTheSecret(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil, nil)
	url := rc.srv.URL
	rc.srv.Close() // nothing listens any more
	p := &Poster{Target: url, Secrets: map[string]string{InstancePro: "top-secret"}}
	h := Mix(MixOptions{N: 1, Instances: []string{InstancePro}})[0]
	_, err := p.post(context.Background(), http.DefaultClient, mustParse(t, url), h)
	require.Error(t, err)
	require.False(t, strings.Contains(err.Error(), "top-secret"), err.Error())
}
