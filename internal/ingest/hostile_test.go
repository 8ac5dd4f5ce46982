package ingest_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/multichat/mediapipe/internal/app"
	"github.com/multichat/mediapipe/internal/bus"
	"github.com/multichat/mediapipe/internal/ingest"
)

// TestHostileBodies: bodies built to hurt get the answer the contract names,
// quickly, and only well-formed webhooks of a known instance reach the
// stream. Hostile values inside well-formed JSON (invalid UTF-8 in a string,
// numbers no integer holds) are W-API's data: accepted and stored byte for
// byte; the analyzer reads them tolerantly.
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{}) // MaxBody 64 KiB
	const limit = 64 << 10
	head := `{"event":"webhookReceived","instanceId":"` + instance + `","messageId":"HOSTILE%d"`
	hook := func(n int, rest string) []byte { return []byte(fmt.Sprintf(head, n) + rest + "}") }
	cases := []struct {
		name   string
		body   []byte
		code   int
		reason string
	}{
		{"deeply nested arrays", []byte(`{"instanceId":"` + instance + `","a":` + strings.Repeat("[", limit-100)), 400, ingest.OutcomeBadJSON},
		{"deeply nested objects", []byte(strings.Repeat(`{"a":`, (limit-100)/5)), 400, ingest.OutcomeBadJSON},
		{"nested just past the limit, closed", []byte(`{"instanceId":"` + instance + `","a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + "}"), 400, ingest.OutcomeBadJSON},
		{"invalid UTF-8 outside strings", []byte("{\"instanceId\":\"" + instance + "\",\xff:1}"), 400, ingest.OutcomeBadJSON},
		{"invalid UTF-8 in the instance id", []byte("{\"instanceId\":\"" + instance + "\xff\"}"), 401, ingest.OutcomeUnauthorized},
		{"NUL in the instance id", []byte(`{"instanceId":"` + instance + `\u0000"}`), 401, ingest.OutcomeUnauthorized},
		{"oversized", hook(1, `,"pad":"`+strings.Repeat("x", limit)+`"`), 413, ingest.OutcomeTooLarge},
		{"oversized by one byte", hook(2, `,"pad":"`+strings.Repeat("x", limit-len(hook(2, `,"pad":""`))+1)+`"`), 413, ingest.OutcomeTooLarge},
		{"empty", nil, 400, ingest.OutcomeBadJSON},
		{"binary", bytes.Repeat([]byte{0, 0xff, 0x1f, 0x8b}, 1000), 400, ingest.OutcomeBadJSON},
		{"two objects", []byte(`{"instanceId":"` + instance + `"}{"instanceId":"` + instance + `"}`), 400, ingest.OutcomeBadJSON},

		{"exactly the limit", hook(3, `,"pad":"`+strings.Repeat("x", limit-len(hook(3, `,"pad":""`)))+`"`), 202, ""},
		{"invalid UTF-8 in strings", hook(4, ",\"sender\":{\"pushName\":\"\xff\xfe\xc0\xaf\"},\"msgContent\":{\"conversation\":\"\xed\xa0\x80\"}"), 202, ""},
		{"huge numbers", hook(5, `,"moment":1e400,"msgContent":{"imageMessage":{"fileLength":"999999999999999999999999","width":1e308,"height":-99999999999999999999,"seconds":-0.0000001}}`), 202, ""},
		{"path traversal file name", hook(6, `,"msgContent":{"documentMessage":{"fileName":"../../../../etc/passwd","title":"..\\..\\boot.ini","directPath":"/../../etc/shadow"}}`), 202, ""},
	}
	want := 0
	for _, c := range cases {
		start := time.Now()
		code, out := post(t, b, "?token="+secret, c.body, nil)
		require.Equal(t, c.code, code, "%s: %v", c.name, out)
		if c.code == http.StatusAccepted {
			want++
			require.Equal(t, true, out["accepted"], c.name)
			s, err := b.js.Stream(t.Context(), bus.StreamWebhooks)
			require.NoError(t, err)
			raw, err := s.GetLastMsgForSubject(t.Context(), "webhooks.wapi."+instance)
			require.NoError(t, err)
			require.Equal(t, c.body, raw.Data, "%s: stored byte for byte", c.name)
		} else {
			require.Equal(t, c.reason, out["reason"], c.name)
		}
		// Linear work on 64 KiB takes microseconds; the bound only catches
		// something superlinear (it is loose for -race on a busy machine).
		require.Less(t, time.Since(start), 5*time.Second, c.name)
	}
	require.EqualValues(t, want, streamMsgs(t, b.js))
}

// TestOversizedStreamedBody: a chunked body (no Content-Length) that grows
// past the limit is cut at the limit, not read to its end.
func TestOversizedStreamedBody(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{})
	var sent atomic.Int64
	endless := io.MultiReader(strings.NewReader(`{"instanceId":"`+instance+`","pad":"`), readerFunc(func(p []byte) (int, error) {
		if sent.Load() > 64<<20 {
			return 0, errors.New("the server read 64 MiB of a body limited to 64 KiB")
		}
		for i := range p {
			p[i] = 'x'
		}
		sent.Add(int64(len(p)))
		return len(p), nil
	}))
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks/wapi?token="+secret, endless)
	require.NoError(t, err)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		defer resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	} // else: the server closed the connection while the client still sent
	require.Less(t, sent.Load(), int64(64<<20))
	require.EqualValues(t, 0, streamMsgs(t, b.js))
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestSlowClientsAreCutOff: a client that sends one byte a second, in the
// headers or in the body, is disconnected by the production HTTP server's
// timeouts (app.NewHTTPServer: ReadHeaderTimeout 5 s, ReadTimeout 15 s), and
// nothing it sent is published.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	b := setup(t, bus.Topology{})
	prod := app.NewHTTPServer(nil, zap.NewNop())
	require.Equal(t, 5*time.Second, prod.ReadHeaderTimeout)
	require.Equal(t, 15*time.Second, prod.ReadTimeout)

	srv := app.NewHTTPServer(b.srv.Config.Handler, zap.NewNop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	body := sample(t, "image.json")
	for _, c := range []struct {
		name   string
		fast   string // sent at once
		slow   string // then one byte a second
		within time.Duration
	}{
		{"headers", "POST /webhooks/wapi?token=" + secret + " HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + strings.Repeat("a", 60), prod.ReadHeaderTimeout},
		{"body", fmt.Sprintf("POST /webhooks/wapi?token=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", secret, len(body)), string(body), prod.ReadTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = io.WriteString(conn, c.fast)
			require.NoError(t, err)

			closed := make(chan string, 1)
			go func() {
				// Whatever the server answers before it hangs up (a 400 or
				// a 408), the connection ends.
				resp, _ := io.ReadAll(bufio.NewReader(conn))
				closed <- string(resp)
			}()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			sent := 0
			for {
				select {
				case resp := <-closed:
					took := time.Since(start)
					t.Logf("cut off after %s and %d slow bytes; answer %.60q", took.Round(time.Millisecond), sent, resp)
					require.GreaterOrEqual(t, took, c.within-time.Second, "not before the timeout")
					require.Less(t, took, c.within+3*time.Second, "cut off at the timeout")
					require.NotContains(t, resp, "202 Accepted")
					require.EqualValues(t, 0, streamMsgs(t, b.js), "nothing published")
					return
				case <-tick.C:
					require.Less(t, sent, len(c.slow), "the server waited for the whole trickle")
					if _, err := conn.Write([]byte{c.slow[sent]}); err == nil {
						sent++
					}
				}
			}
		})
	}
}
