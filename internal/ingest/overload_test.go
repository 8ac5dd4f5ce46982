package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/bus"
)

// answer is one ingest answer.
type answer struct {
	code       int
	retryAfter string
	body       map[string]any
}

func postAnswer(t *testing.T, b *bundle, body []byte) answer {
	t.Helper()
	resp, err := http.Post(b.srv.URL+"/webhooks/wapi?token="+secret, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a.body))
	return a
}

// uniqueWebhook returns the image sample with message id n, so that no two
// are duplicates of each other.
func uniqueWebhook(t *testing.T, n int) []byte {
	t.Helper()
	return bytes.Replace(sample(t, "image.json"), []byte(`"messageId": "`), []byte(fmt.Sprintf(`"messageId": "OVL%06d`, n)), 1)
}

// fill posts unique webhooks until the stream refuses one (503) and returns
// how many were accepted and the first refused body.
func fill(t *testing.T, b *bundle) (accepted int, refused []byte) {
	t.Helper()
	for i := 0; i < 200; i++ {
		body := uniqueWebhook(t, i)
		a := postAnswer(t, b, body)
		switch a.code {
		case http.StatusAccepted:
			accepted++
		case http.StatusServiceUnavailable:
			require.Equal(t, "unavailable", a.body["reason"])
			require.NotEmpty(t, a.retryAfter, "503 tells W-API when to retry")
			return accepted, body
		default:
			t.Fatalf("webhook %d: unexpected %d %v", i, a.code, a.body)
		}
	}
	t.Fatal("the stream never filled up")
	return 0, nil
}

// TestOverloadRefusesThenRecoversAfterPurge: with the stream full every
// webhook is answered 503 and none is stored; once room frees up (an
// operator purges the stream) the same ingest, not restarted, accepts again,
// including the webhooks it refused: a refused publish does not enter the
// duplicate window, so W-API's retry of it is stored, not dropped.
func TestOverloadRefusesThenRecoversAfterPurge(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{MaxBytes: 16 << 10})
	accepted, refused := fill(t, b)
	require.Positive(t, accepted)
	full := streamMsgs(t, b.js)
	require.EqualValues(t, accepted, full)

	// Nothing is accepted while full: new webhooks and the refused one again.
	for i := 0; i < 20; i++ {
		body := refused
		if i > 0 {
			body = uniqueWebhook(t, 1000+i)
		}
		a := postAnswer(t, b, body)
		require.Equal(t, http.StatusServiceUnavailable, a.code, "webhook %d while full", i)
	}
	require.Equal(t, full, streamMsgs(t, b.js), "a 503 stores nothing")

	s, err := b.js.Stream(context.Background(), bus.StreamWebhooks)
	require.NoError(t, err)
	require.NoError(t, s.Purge(context.Background()))

	a := postAnswer(t, b, refused)
	require.Equal(t, http.StatusAccepted, a.code, "%v", a.body)
	require.Nil(t, a.body["duplicate"], "the refused webhook was never stored: its retry is new")
	for i := 1; i < accepted; i++ { // as many as fitted before
		require.Equal(t, http.StatusAccepted, postAnswer(t, b, uniqueWebhook(t, 1000+i)).code)
	}
	require.EqualValues(t, accepted, streamMsgs(t, b.js))
}

// TestOverloadRecoversByItself: the stream's MaxAge frees room without
// anyone acting, and the ingest accepts again as soon as it has.
func TestOverloadRecoversByItself(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{MaxBytes: 16 << 10, MaxAge: time.Second})
	_, refused := fill(t, b)

	deadline := time.Now().Add(30 * time.Second)
	var a answer
	for {
		a = postAnswer(t, b, refused)
		if a.code != http.StatusServiceUnavailable {
			break
		}
		require.True(t, time.Now().Before(deadline), "still refused after 30 s")
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, http.StatusAccepted, a.code, "%v", a.body)
	require.Nil(t, a.body["duplicate"])
}
