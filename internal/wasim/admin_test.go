package wasim

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/samples"
)

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func (b *testBundle) admin(t *testing.T, method, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	it := b.add(t, samples.ImageJPEG)
	b.add(t, samples.AudioVoice)

	resp := b.admin(t, "PUT", "/_wasim/faults", `[{"kind":"ratelimit","retryAfter":"3s"},{"kind":"latency","delay":"1ms"}]`)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, []Fault{{Kind: FaultRateLimit, RetryAfter: 3 * time.Second}, {Kind: FaultLatency, Delay: time.Millisecond}}, b.srv.Faults())
	r := b.get(t, it.DirectPath)
	require.Equal(t, 429, r.StatusCode)
	require.Equal(t, "3", r.Header.Get("Retry-After"))

	var faults []Fault
	require.NoError(t, json.NewDecoder(b.admin(t, "GET", "/_wasim/faults", "").Body).Decode(&faults))
	require.Equal(t, b.srv.Faults(), faults)

	require.Equal(t, http.StatusBadRequest, b.admin(t, "PUT", "/_wasim/faults", `[{"kind":"nope"}]`).StatusCode)
	require.Equal(t, http.StatusBadRequest, b.admin(t, "PUT", "/_wasim/faults", `[{"kind":"error","rate":2}]`).StatusCode)
	require.Equal(t, http.StatusNoContent, b.admin(t, "DELETE", "/_wasim/faults", "").StatusCode)
	require.Equal(t, 200, b.get(t, it.DirectPath).StatusCode)

	require.Equal(t, http.StatusNoContent, b.admin(t, "PUT", "/_wasim/items/"+it.ID+"/faults", `[{"kind":"expired","status":410}]`).StatusCode)
	require.Equal(t, 410, b.get(t, it.DirectPath).StatusCode)
	require.Equal(t, http.StatusNoContent, b.admin(t, "DELETE", "/_wasim/items/"+it.ID+"/faults", "").StatusCode)
	require.Equal(t, http.StatusNotFound, b.admin(t, "PUT", "/_wasim/items/nope/faults", `[]`).StatusCode)

	require.Equal(t, http.StatusNoContent, b.admin(t, "PUT", "/_wasim/wapi", `{"mode":"base64","latency":"1ms"}`).StatusCode)
	require.Equal(t, http.StatusBadRequest, b.admin(t, "PUT", "/_wasim/wapi", `{"mode":"carrier-pigeon"}`).StatusCode)
	require.Equal(t, http.StatusNoContent, b.admin(t, "PUT", "/_wasim/items/"+it.ID+"/wapi", `{"mode":"gone"}`).StatusCode)
	b.srv.AddInstance(InstancePro, testToken)
	code, _ := b.downloadMedia(t, InstancePro, testToken, fourFields(it))
	require.Equal(t, http.StatusNotFound, code)

	var items []map[string]any
	require.NoError(t, json.NewDecoder(b.admin(t, "GET", "/_wasim/items", "").Body).Decode(&items))
	require.Len(t, items, 2)
	require.Equal(t, it.ID, items[0]["id"])
	require.Equal(t, it.DirectPath, items[0]["media"].(map[string]any)["directPath"])

	var st Stats
	require.NoError(t, json.NewDecoder(b.admin(t, "GET", "/_wasim/stats", "").Body).Decode(&st))
	require.EqualValues(t, 1, st.Faults[FaultRateLimit])
	require.EqualValues(t, 1, st.DownloadMedia)

	sc := bufio.NewScanner(b.admin(t, "GET", "/_wasim/webhooks?n=7&seed=1", "").Body)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		require.True(t, json.Valid(sc.Bytes()))
		n++
	}
	require.Equal(t, 7, n)
}
