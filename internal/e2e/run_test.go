package e2e_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// TestRunSettlesMixAndStopsOnSIGTERM runs `mediapipe run` as a subprocess,
// posts a realistic batch of webhooks (every event kind, media of every type,
// duplicates, two instances), waits until every media item settled, and
// stops it with SIGTERM: it exits 0 within the timeout.
func TestRunSettlesMixAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wasim.InstancePro, wasim.InstanceLite)
	var items []*wasim.Item
	for _, s := range samples.All() {
		it, err := e.sim.AddSample(s)
		require.NoError(t, err)
		items = append(items, it)
	}
	run := e.start("run")

	hooks := e.sim.Mix(wasim.MixOptions{N: 200, Items: items, Seed: 7, DuplicateRate: 0.05})
	media := map[string][]string{} // instance → message ids carrying media
	want := map[string]*wasim.Item{}
	for _, h := range hooks {
		if h.Item != nil && want[h.InstanceID+"/"+h.MessageID] == nil {
			media[h.InstanceID] = append(media[h.InstanceID], h.MessageID)
			want[h.InstanceID+"/"+h.MessageID] = h.Item
		}
	}
	poster := &wasim.Poster{Target: "http://" + run.Addr + "/webhooks/wapi", Secrets: e.secrets, Concurrency: 8}
	res, err := poster.Post(context.Background(), hooks)
	require.NoError(t, err)
	require.Equal(t, len(hooks), res.ByStatus[202], "every webhook accepted: %s", res)

	final := func() (n int) {
		for inst, ids := range media {
			for _, r := range e.rows(inst, ids) {
				if r.Status == "success" || r.Status == "failed" || r.Status == "expired" {
					n++
				}
			}
		}
		return n
	}
	proctest.Poll(t, 60*time.Second, "every media item settled", func() bool { return final() == len(want) })
	for inst, ids := range media {
		for id, r := range e.rows(inst, ids) {
			it := want[inst+"/"+id]
			if it.Sample.Hostile {
				require.Equal(t, "failed/type_mismatch", r.Status+"/"+r.Reason, it.Sample.Name)
				continue
			}
			require.Equal(t, "success", r.Status, "%s: %s", it.Sample.Name, r.Reason)
			require.Equal(t, it.FileLength, r.Size)
		}
	}
	for rel := range e.files() {
		require.False(t, isTemp(rel), "temporary file left: %s", rel)
	}

	start := time.Now()
	require.Equal(t, 0, run.Stop(syscall.SIGTERM, 30*time.Second), "a clean stop")
	if time.Since(start) > 2*time.Second {
		t.Logf("slow stop; the log ends with:\n%s", proctest.Tail(run.Log.String(), 3000))
	}
	t.Logf("%d webhooks, %d media items settled; SIGTERM to exit took %s", len(hooks), len(want), time.Since(start).Round(time.Millisecond))
}
