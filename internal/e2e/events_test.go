package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/pgtest"
	"github.com/multichat/mediapipe/internal/proctest"
	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
)

// eventReceiver is a cliente's callback endpoint on loopback that verifies
// every post with the reference Standard Webhooks library, not the
// project's signer.
type eventReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	wh       *standardwebhooks.Webhook
	byID     map[string]receivedEvent // webhook-id → the event
	posts    int
	bad      int // posts that failed verification
	answerFn func(n int) int          // status of post n (1-based); nil: 200
}

type receivedEvent struct {
	Type    string
	MediaID int64
	At      time.Time
}

func newEventReceiver(t testing.TB, answer func(n int) int) *eventReceiver {
	r := &eventReceiver{byID: map[string]receivedEvent{}, answerFn: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.posts++
		n := r.posts
		if r.wh == nil || r.wh.Verify(body, req.Header) != nil {
			r.bad++
			r.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		status := http.StatusOK
		if r.answerFn != nil {
			status = r.answerFn(n)
		}
		if status/100 == 2 {
			var doc struct {
				Type string `json:"type"`
				Data struct {
					ID int64 `json:"id"`
				} `json:"data"`
			}
			_ = json.Unmarshal(body, &doc)
			if _, seen := r.byID[req.Header.Get("webhook-id")]; !seen {
				r.byID[req.Header.Get("webhook-id")] = receivedEvent{Type: doc.Type, MediaID: doc.Data.ID, At: time.Now()}
			}
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *eventReceiver) events() map[string]receivedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]receivedEvent, len(r.byID))
	for k, v := range r.byID {
		out[k] = v
	}
	return out
}

var whsecLine = regexp.MustCompile(`(?m)^  (whsec_\S+)$`)

// setCallback points the cliente of instance at r with `tenant callback set`.
func (e *env) setCallback(instance string, r *eventReceiver) {
	e.t.Helper()
	code, out := e.run("tenant", "callback", "set", "--cliente", "Cliente "+strconv.Itoa(e.clienteIndex(instance)), "--url", r.URL+"/hooks")
	require.Equal(e.t, 0, code, out)
	m := whsecLine.FindStringSubmatch(out)
	require.NotNil(e.t, m, out)
	wh, err := standardwebhooks.NewWebhook(m[1])
	require.NoError(e.t, err)
	r.mu.Lock()
	r.wh = wh
	r.mu.Unlock()
}

func (e *env) clienteIndex(instance string) int {
	e.t.Helper()
	var name string
	require.NoError(e.t, pgtest.DB(e.t, e.store).QueryRow(context.Background(),
		`SELECT c.name FROM clientes c JOIN instances i ON i.cliente_id = c.id WHERE i.id = $1`, instance).Scan(&name))
	n, err := strconv.Atoi(name[len("Cliente "):])
	require.NoError(e.t, err)
	return n
}

// finalRows returns the final media rows: id → event type.
func (e *env) finalRows() map[int64]string {
	e.t.Helper()
	rs, err := pgtest.DB(e.t, e.store).Query(context.Background(), `
		SELECT id, 'media.' || CASE download_status WHEN 'success' THEN 'ready' ELSE download_status END
		FROM media_files WHERE download_status IN ('success', 'failed', 'expired')`)
	require.NoError(e.t, err)
	defer rs.Close()
	out := map[int64]string{}
	for rs.Next() {
		var id int64
		var typ string
		require.NoError(e.t, rs.Scan(&id, &typ))
		out[id] = typ
	}
	require.NoError(e.t, rs.Err())
	return out
}

// TestRunPostsSignedEvents is the acceptance test of the outbound events:
// `mediapipe run` settles a mix of media (successes, a hostile file that
// fails, an expired one), and the cliente's receiver, verifying with the
// reference Standard Webhooks library, gets one media.ready per success row
// and one media.failed or media.expired per failed or expired row.
func TestRunPostsSignedEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.vars["CALLBACK_ALLOW_PRIVATE"] = "true"
	rc := newEventReceiver(t, func(n int) int {
		if n%5 == 0 {
			return http.StatusServiceUnavailable // some failures: retried with the same id
		}
		return http.StatusOK
	})
	e.setCallback(wasim.InstancePro, rc)
	var items []*wasim.Item
	for _, s := range samples.All() {
		it, err := e.sim.AddSample(s)
		require.NoError(t, err)
		items = append(items, it)
	}
	gone, err := e.sim.AddSample(samples.All()[0])
	require.NoError(t, err)
	require.NoError(t, gone.Expire(http.StatusNotFound))
	items = append(items, gone)
	run := e.start("run")

	hooks := e.sim.Mix(wasim.MixOptions{N: 60, Items: items, Seed: 11, Instances: []string{wasim.InstancePro}})
	poster := &wasim.Poster{Target: "http://" + run.Addr + "/webhooks/wapi", Secrets: e.secrets, Concurrency: 4}
	res, err := poster.Post(context.Background(), hooks)
	require.NoError(t, err)
	require.Equal(t, len(hooks), res.ByStatus[202], "every webhook accepted: %s", res)

	media := map[string]bool{}
	for _, h := range hooks {
		if h.Item != nil {
			media[h.MessageID] = true
		}
	}
	var rows map[int64]string
	proctest.Poll(t, 90*time.Second, "one event per final row", func() bool {
		rows = e.finalRows()
		return len(rows) == len(media) && len(rc.events()) == len(rows)
	})
	got := map[int64]string{}
	types := map[string]int{}
	for id, ev := range rc.events() {
		require.Regexp(t, `^evt_[0-9a-f]{32}$`, id)
		_, dup := got[ev.MediaID]
		require.False(t, dup, "media %d got two webhook-ids", ev.MediaID)
		got[ev.MediaID] = ev.Type
		types[ev.Type]++
	}
	require.Equal(t, rows, got)
	require.NotZero(t, types["media.ready"])
	require.NotZero(t, types["media.failed"]+types["media.expired"], "%v", types)
	rc.mu.Lock()
	require.Zero(t, rc.bad, "every post verifies")
	rc.mu.Unlock()
	t.Logf("%d media settled, events by type %v", len(rows), types)
}
