package deliver_test

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/catalog"
	"github.com/multichat/mediapipe/internal/events"
	"github.com/multichat/mediapipe/internal/events/deliver"
)

// TestDeliversOneSignedEventPerFinalRow: one post per final row, verified
// by the reference Standard Webhooks library, of the subscribed types only.
func TestDeliversOneSignedEventPerFinalRow(t *testing.T) {
	b := setup(t)
	rc := newReceiver(t, nil)
	_, instance, secret := b.cliente(t, "acme", rc.URL+"/hooks", []string{events.TypeReady, events.TypeFailed})
	rc.verifyWith(t, secret)
	_, quiet, _ := b.cliente(t, "quiet", "", nil) // no endpoint: its events are acknowledged unposted
	b.run(t, deliver.Options{}, 8)

	rows := b.finals(t, instance, 30, catalog.StatusSuccess, catalog.StatusFailed, catalog.StatusExpired)
	b.finals(t, quiet, 5)
	require.Eventually(t, func() bool { return len(rc.all()) >= 20 }, 30*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // nothing more comes
	posts := rc.all()
	require.Len(t, posts, 20, "media.expired is not subscribed")
	got := map[string][]int64{}
	for _, p := range posts {
		require.True(t, p.Verified, "signature of %s", p.ID)
		require.Regexp(t, `^evt_[0-9a-f]{32}$`, p.ID)
		got[p.Type] = append(got[p.Type], p.MediaID)
	}
	for typ, status := range map[string]string{events.TypeReady: catalog.StatusSuccess, events.TypeFailed: catalog.StatusFailed} {
		slices.Sort(got[typ])
		slices.Sort(rows[status])
		require.Equal(t, rows[status], got[typ], typ)
	}
	require.Len(t, rc.ids(), 20, "one distinct webhook-id per row")
}

// TestRetriesKeepTheWebhookID: failures are retried with the same id and a
// fresh timestamp; Retry-After is honoured.
func TestRetriesKeepTheWebhookID(t *testing.T) {
	b := setup(t)
	var retryAfterAt atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, _ post, n int) bool {
		switch n {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2:
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			w.WriteHeader(http.StatusFound) // a redirect is a failure, never followed
		case 3:
			retryAfterAt.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			return false
		}
		return true
	})
	_, instance, secret := b.cliente(t, "acme", rc.URL, nil)
	rc.verifyWith(t, secret)
	b.run(t, deliver.Options{}, 4)
	b.finals(t, instance, 1)
	require.Eventually(t, func() bool { return len(rc.all()) == 4 }, 30*time.Second, 20*time.Millisecond)
	posts := rc.all()
	for _, p := range posts {
		require.Equal(t, posts[0].ID, p.ID)
		require.True(t, p.Verified)
	}
	require.GreaterOrEqual(t, posts[3].At.Sub(time.Unix(0, retryAfterAt.Load())), 1900*time.Millisecond, "Retry-After: 2")
	time.Sleep(500 * time.Millisecond)
	require.Len(t, rc.all(), 4, "a 2xx ends the retries")
}

// TestGoneDisablesTheEndpoint: a 410 disables the endpoint and terminates the
// event with a dead-letter record; later events are not posted.
func TestGoneDisablesTheEndpoint(t *testing.T) {
	b := setup(t)
	rc := newReceiver(t, always(http.StatusGone))
	clienteID, instance, _ := b.cliente(t, "acme", rc.URL, nil)
	b.run(t, deliver.Options{CacheTTL: time.Millisecond}, 1)
	b.finals(t, instance, 1)
	require.Eventually(t, func() bool {
		ep, err := b.store.CallbackEndpoint(b.ctx, clienteID)
		return err == nil && ep.DisabledAt != nil
	}, 30*time.Second, 20*time.Millisecond)
	var dls []bus.DeadLetter
	require.Eventually(t, func() bool {
		var err error
		dls, err = bus.ListDeadLetters(b.ctx, b.js, bus.DeadLetterFilter{Stream: bus.StreamEvents})
		return err == nil && len(dls) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, deliver.ReasonGone, dls[0].Reason)
	require.NotEmpty(t, dls[0].About["event_id"])
	b.finals(t, instance, 3)
	time.Sleep(time.Second)
	require.Len(t, rc.all(), 1, "a disabled endpoint gets no more posts")
}

// TestExhaustedAfterTheHorizon: an event that found no 2xx within the retry
// horizon is dead-lettered as exhausted.
func TestExhaustedAfterTheHorizon(t *testing.T) {
	b := setup(t)
	rc := newReceiver(t, always(http.StatusBadGateway))
	_, instance, _ := b.cliente(t, "acme", rc.URL, nil)
	b.run(t, deliver.Options{Now: func() time.Time { return time.Now().Add(25 * time.Hour) }}, 1)
	b.finals(t, instance, 1)
	require.Eventually(t, func() bool {
		dls, err := bus.ListDeadLetters(b.ctx, b.js, bus.DeadLetterFilter{Stream: bus.StreamEvents})
		return err == nil && len(dls) == 1 && dls[0].Reason == deliver.ReasonExhausted && dls[0].Exhausted
	}, 30*time.Second, 20*time.Millisecond)
	require.Len(t, rc.all(), 1)
}

// TestSlowAndHugeReceiversDoNotStallOthers: one cliente's receiver answers
// after 10 s, another's answer is 2 GB; a third cliente's events still
// arrive at once.
func TestSlowAndHugeReceiversDoNotStallOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s")
	}
	b := setup(t)
	slow := newReceiver(t, func(w http.ResponseWriter, _ post, _ int) bool {
		time.Sleep(10 * time.Second)
		return false
	})
	var hugeBytes atomic.Int64
	huge := newReceiver(t, func(w http.ResponseWriter, _ post, _ int) bool {
		w.Header().Set("Content-Length", "2147483648")
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 1<<20)
		for range 2048 {
			n, err := w.Write(chunk)
			hugeBytes.Add(int64(n))
			if err != nil {
				return true
			}
		}
		return true
	})
	fast := newReceiver(t, nil)
	_, slowInst, _ := b.cliente(t, "slow", slow.URL, nil)
	_, hugeInst, _ := b.cliente(t, "huge", huge.URL, nil)
	_, fastInst, _ := b.cliente(t, "fast", fast.URL, nil)
	b.run(t, deliver.Options{Timeout: 10 * time.Second, PerEndpoint: 4}, 16)
	b.finals(t, slowInst, 100)
	b.finals(t, hugeInst, 100)
	time.Sleep(500 * time.Millisecond) // both hold their slots now
	start := time.Now()
	b.finals(t, fastInst, 50)
	require.Eventually(t, func() bool { return len(fast.ids()) == 50 }, 5*time.Second, 10*time.Millisecond,
		"the fast cliente waited behind the others")
	t.Logf("50 events of the fast cliente delivered in %s while the slow and huge receivers held their slots", time.Since(start))
	require.Less(t, hugeBytes.Load(), int64(1<<30), "the 2 GB answer is not read through")
	require.LessOrEqual(t, len(slow.all()), 8, "at most PerEndpoint posts at once to the slow receiver")
	require.Eventually(t, func() bool { return len(huge.ids()) == 100 }, 60*time.Second, 50*time.Millisecond,
		"a 2xx with a huge body is a delivery: its excerpt is read, the rest dropped")
}

// TestPrivateAddressesRefusedByDefault: the callback URL goes through the
// media SSRF guard.
func TestPrivateAddressesRefusedByDefault(t *testing.T) {
	b := setup(t)
	rc := newReceiver(t, nil)
	clienteID, _, _ := b.cliente(t, "acme", rc.URL+"/in?token=s3cr3t", nil)
	ep, err := b.store.CallbackEndpoint(b.ctx, clienteID)
	require.NoError(t, err)
	d := deliver.New(b.store, deliver.Options{Timeout: 2 * time.Second})
	_, err = d.Post(b.ctx, ep, "evt_1", []byte(`{}`))
	require.ErrorContains(t, err, "non-public address")
	require.ErrorContains(t, err, "CALLBACK_ALLOW_PRIVATE")
	require.NotContains(t, err.Error(), "s3cr3t", "errors never carry the URL (it may hold a token)")
	require.Empty(t, rc.all())

	d = deliver.New(b.store, deliver.Options{Timeout: 2 * time.Second, AllowPrivate: true})
	ans, err := d.Post(b.ctx, ep, "evt_1", []byte(`{}`))
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, ans.Status)
	p := rc.all()[0]
	require.Equal(t, "evt_1", p.ID)
	require.False(t, strings.Contains(p.Timestamp, "."), "unix seconds")
}
