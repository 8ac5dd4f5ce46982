package scaletest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/natstest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/wasim"
)

// TestAcceptedWebhooksSurviveANATSNodeLoss runs `mediapipe ingest` against a
// three-node NATS cluster (in-process servers routed on loopback, JetStream
// on file storage, separate stores) with the production topology: R3 streams
// (STREAM_REPLICAS=3) and NATS_URL listing every node. While webhooks are
// being posted (8 at a time), the node that leads the WEBHOOKS stream and
// holds the ingest's connection is shut down. A webhook answered 503
// meanwhile is posted again, as W-API retries, until it is accepted. Afterwards each of the two remaining nodes holds every accepted
// webhook exactly once: its own replica's state (from its monitoring data)
// counts them, and reading the stream while each survivor leads it in turn
// returns every accepted body.
func TestAcceptedWebhooksSurviveANATSNodeLoss(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	_, js := natstest.Connect(t, c.URL())
	// A JetStream API request sent while the cluster settles may get no
	// answer: each attempt has its own deadline, as an operator would retry.
	var setupErr error
	poll(t, 2*time.Minute, "R3 streams declared", func() bool {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		defer acancel()
		setupErr = bus.Setup(actx, js, bus.Topology{Replicas: 3})
		if setupErr != nil {
			t.Logf("declaring the topology: %v (retrying)", setupErr)
		}
		return setupErr == nil
	})
	for _, name := range []string{bus.StreamWebhooks, bus.StreamDownloads, bus.StreamDeadLetter} {
		info := streamInfo(ctx, t, js, name)
		require.Equal(t, 3, info.Config.Replicas, name)
		require.NotNil(t, info.Cluster, name)
		require.Len(t, info.Cluster.Replicas, 2, "%s: a leader and two replicas", name)
	}

	d := newDeployment(t, c.URL(), map[string]string{"STREAM_REPLICAS": "3"})
	ingest := d.start("ingest", "ingest", nil)

	// The victim is the node the ingest is connected to, made the WEBHOOKS
	// leader: losing it costs the ingest its connection and the stream its
	// leader at once.
	var victim string
	poll(t, 10*time.Second, "the ingest's NATS connection", func() bool {
		victim = serverWithClient(t, c, "mediapipe")
		return victim != ""
	})
	nc, _ := natstest.Connect(t, c.URL())
	for attempt := 0; leaderOf(ctx, js, bus.StreamWebhooks) != victim; attempt++ {
		require.Less(t, attempt, 20, "making %s the WEBHOOKS leader", victim)
		before := leaderOf(ctx, js, bus.StreamWebhooks)
		if before != "" {
			stepDown(t, nc, bus.StreamWebhooks)
		}
		poll(t, 30*time.Second, "a new WEBHOOKS leader", func() bool {
			l := leaderOf(ctx, js, bus.StreamWebhooks)
			return l != "" && l != before
		})
	}

	const n = 300
	type hook struct {
		instance string
		body     []byte
	}
	hooks := make([]hook, n)
	wantBodies := map[[32]byte]bool{}
	for i := range hooks {
		inst := []string{wasim.InstancePro, wasim.InstanceLite}[i%2]
		body := wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{InstanceID: inst, MessageID: proctest.NewMessageID(), Content: wasim.ContentText})
		hooks[i] = hook{inst, body}
		wantBodies[sha256.Sum256(body)] = true
	}

	// Post every webhook until it is accepted, 8 at a time, as W-API retries.
	var accepted, unavailable, unanswered atomic.Int64
	jobs := make(chan hook)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for range 8 {
		wg.Go(func() {
			for h := range jobs {
				for delay := 20 * time.Millisecond; ; delay = min(2*delay, time.Second) {
					code := d.post(client, ingest, h.instance, h.body)
					switch code {
					case http.StatusAccepted:
						accepted.Add(1)
					case http.StatusServiceUnavailable:
						unavailable.Add(1)
					case 0:
						unanswered.Add(1)
					default:
						t.Errorf("webhook answered %d", code)
						return
					}
					if code == http.StatusAccepted || ctx.Err() != nil {
						break
					}
					time.Sleep(delay) // a retry's back-off, not a wait for a condition
				}
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, h := range hooks {
			select {
			case jobs <- h:
			case <-ctx.Done():
				return
			}
		}
	}()
	// Kill the victim once a third was accepted, with requests in flight.
	poll(t, time.Minute, "a third of the webhooks accepted", func() bool { return accepted.Load() >= n/3 })
	require.Equal(t, victim, leaderOf(ctx, js, bus.StreamWebhooks), "the victim still leads WEBHOOKS")
	dead := victim
	atKill := accepted.Load()
	c.Stop(dead)
	wg.Wait()
	require.NoError(t, ctx.Err(), "posting did not finish in time")
	require.EqualValues(t, n, accepted.Load(), "every webhook accepted in the end")
	t.Logf("killed %s (the WEBHOOKS leader, holding the ingest's connection) after %d of %d webhooks were accepted; meanwhile %d answers were 503 and %d requests unanswered; all %d accepted",
		dead, atKill, n, unavailable.Load(), unanswered.Load(), n)

	// Each surviving node's own replica holds every accepted webhook.
	survivors := c.Running()
	require.Len(t, survivors, 2)
	poll(t, 60*time.Second, "both survivors' replicas hold every webhook", func() bool {
		for _, srv := range survivors {
			st, ok := localStream(t, srv, bus.StreamWebhooks)
			if !ok || st.Msgs != n || st.LastSeq != uint64(n) {
				return false
			}
		}
		return true
	})

	// Read the stream under each survivor's leadership in turn.
	nc2, js2 := natstest.Connect(t, c.URL())
	leaders := map[string]bool{}
	for round := range 2 {
		var leader string
		poll(t, 30*time.Second, "a WEBHOOKS leader among the survivors", func() bool {
			ci := leaderOf(ctx, js2, bus.StreamWebhooks)
			if ci == "" || ci == dead || leaders[ci] {
				return false
			}
			leader = ci
			return true
		})
		leaders[leader] = true
		var got map[[32]byte]bool
		poll(t, time.Minute, "reading the stream", func() bool {
			var err error
			got, err = readAll(ctx, t, js2, bus.StreamWebhooks, n)
			if err != nil {
				t.Logf("reading under leader %s: %v (retrying)", leader, err)
			}
			return err == nil
		})
		require.Len(t, got, n, "round %d (leader %s): one message per accepted webhook", round, leader)
		for sum := range wantBodies {
			require.True(t, got[sum], "round %d (leader %s): an accepted webhook is missing", round, leader)
		}
		if round == 0 {
			// Hand the leadership to the other survivor.
			stepDown(t, nc2, bus.StreamWebhooks)
		}
	}
	names := make([]string, 0, len(leaders))
	for l := range leaders {
		names = append(names, l)
	}
	sort.Strings(names)
	t.Logf("read all %d webhooks under leaders %v", n, names)
	require.Equal(t, 0, ingest.Stop(syscall.SIGTERM, 30*time.Second), "the ingest stops cleanly")
}

// leaderOf returns the name of the server leading the stream, or "" when
// none answers within a few seconds (a request sent while there is no
// leader gets no answer).
func leaderOf(ctx context.Context, js jetstream.JetStream, stream string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	if ci := s.CachedInfo().Cluster; ci != nil {
		return ci.Leader
	}
	return ""
}

// stepDown asks the stream's leader to hand its leadership to another
// current replica (what `nats stream cluster step-down` does).
func stepDown(t testing.TB, nc *nats.Conn, stream string) {
	t.Helper()
	resp, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 10*time.Second)
	require.NoError(t, err)
	var r struct {
		Success bool `json:"success"`
	}
	require.NoError(t, json.Unmarshal(resp.Data, &r))
	require.True(t, r.Success, "stepdown: %s", resp.Data)
}

// serverWithClient returns the name of the running server holding a client
// connection called name, or "".
func serverWithClient(t testing.TB, c *natstest.Cluster, name string) string {
	t.Helper()
	for srvName, srv := range c.Running() {
		cz, err := srv.Connz(&server.ConnzOptions{})
		require.NoError(t, err)
		for _, ci := range cz.Conns {
			if ci.Name == name {
				return srvName
			}
		}
	}
	return ""
}

func streamInfo(ctx context.Context, t testing.TB, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(ctx, name)
	require.NoError(t, err, name)
	info, err := s.Info(ctx)
	require.NoError(t, err, name)
	return info
}

// localStream returns the state of the stream's replica on srv itself, from
// the server's monitoring data (what its /jsz reports).
func localStream(t testing.TB, srv *server.Server, name string) (server.StreamState, bool) {
	t.Helper()
	jsz, err := srv.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	require.NoError(t, err)
	for _, acc := range jsz.AccountDetails {
		for _, s := range acc.Streams {
			if s.Name == name {
				return s.State, true
			}
		}
	}
	return server.StreamState{}, false
}

// readAll reads every message of the stream with an ordered consumer and
// returns the SHA-256 of each body; a body seen twice fails the test, and so
// does a message without a Nats-Msg-Id. A transport error (the stream's
// leader moving) is returned for the caller to retry.
func readAll(ctx context.Context, t testing.TB, js jetstream.JetStream, stream string, n int) (map[[32]byte]bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	got := map[[32]byte]bool{}
	ids := map[string]bool{}
	for len(got) < n {
		batch, err := cons.Fetch(min(n-len(got), 100), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		var count int
		for m := range batch.Messages() {
			count++
			sum := sha256.Sum256(m.Data())
			require.False(t, got[sum], "a webhook stored twice")
			got[sum] = true
			id := m.Headers().Get(nats.MsgIdHdr)
			require.NotEmpty(t, id, "stored without a Nats-Msg-Id")
			require.False(t, ids[id], "Nats-Msg-Id %s stored twice", id)
			ids[id] = true
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		require.NotZero(t, count, "no more messages after %d of %d", len(got), n)
	}
	return got, nil
}
