package chaos_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/samples"
	"github.com/multichat/mediapipe/internal/wasim"
	"github.com/multichat/mediapipe/pkg/wamedia"
)

// secretForms returns the ways a secret could show up in a log: as is,
// URL-escaped, in base64 (standard, URL, unpadded) and in hex.
func secretForms(raw []byte) []string {
	forms := []string{
		string(raw), url.QueryEscape(string(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
	}
	// A JSON encoder escapes some characters of a string: search for that too.
	if b, err := json.Marshal(string(raw)); err == nil {
		forms = append(forms, strings.Trim(string(b), `"`))
	}
	return forms
}

// TestSecretsNeverLogged runs the whole pipeline with every log line at
// debug level captured, and exercises each secret it knows: webhook secrets
// (in ?token=, in X-Webhook-Token, wrong ones, another instance's), W-API
// tokens (media expired on the CDN goes through download-media), media keys
// and the keys derived from them (every download), cliente API tokens
// (valid, of the wrong cliente, invalid) and the admin token. Then no form
// of any of them (raw, URL-escaped, base64, hex) appears anywhere in the
// log.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	const adminToken = "admin-token-very-secret-0123456789"
	p := newPipeline(t, map[string]string{"ADMIN_TOKEN": adminToken})
	ctx := context.Background()

	type secret struct {
		what string
		raw  []byte
	}
	var secrets []secret
	for inst := range p.secrets {
		secrets = append(secrets,
			secret{"webhook secret of " + inst, []byte(p.secrets[inst])},
			secret{"W-API token of " + inst, []byte(p.wapi[inst])},
			secret{"API token of " + inst, []byte(p.api[inst])})
	}
	secrets = append(secrets, secret{"admin token", []byte(adminToken)})

	// Every benign sample, one expired on the CDN (download-media with the
	// W-API token, then its fileLink with it too), one whose download-media
	// answers inline base64, and one unencrypted.
	var items []*wasim.Item
	for _, s := range samples.Benign() {
		it, err := p.sim.AddSample(s)
		require.NoError(t, err)
		items = append(items, it)
	}
	expired, err := p.sim.AddSample(samples.ByName(samples.AudioVoice))
	require.NoError(t, err)
	require.NoError(t, expired.Expire(http.StatusGone))
	inline, err := p.sim.AddSample(samples.ByName(samples.ImagePNG), wasim.WithWAPIMode(wasim.WAPIBase64))
	require.NoError(t, err)
	require.NoError(t, inline.Expire(http.StatusForbidden))
	plain, err := p.sim.AddSample(samples.ByName(samples.ImageJPEG), wasim.Unencrypted())
	require.NoError(t, err)
	items = append(items, expired, inline, plain)
	for _, it := range items {
		if it.MediaKey == nil {
			continue
		}
		secrets = append(secrets, secret{"media key of " + it.Sample.Name, it.MediaKey})
		keys, err := wamedia.ExpandKeys(it.MediaKey, wamedia.ClassOf(it.Sample.Type))
		require.NoError(t, err)
		secrets = append(secrets,
			secret{"cipher key of " + it.Sample.Name, keys.CipherKey[:]},
			secret{"MAC key of " + it.Sample.Name, keys.MACKey[:]},
			secret{"IV of " + it.Sample.Name, keys.IV[:]})
	}

	// Webhooks: in the query for pro, in the header for lite, each item once.
	ids := map[string][]string{}
	var hooks []wasim.Hook
	for i, it := range items {
		inst := []string{wasim.InstancePro, wasim.InstanceLite}[i%2]
		id := fmt.Sprintf("3EB0SECRET%04d", i)
		ids[inst] = append(ids[inst], id)
		hooks = append(hooks, wasim.Hook{InstanceID: inst, MessageID: id, Item: it,
			Body: wasim.Webhook(wasim.EventReceived, wasim.WebhookOptions{InstanceID: inst, MessageID: id, Media: it})})
	}
	for _, header := range []bool{false, true} {
		poster := &wasim.Poster{Target: p.base + "/webhooks/wapi", Secrets: p.secrets, HeaderToken: header, Concurrency: 2}
		var mine []wasim.Hook
		for _, h := range hooks {
			if (h.InstanceID == wasim.InstanceLite) == header {
				mine = append(mine, h)
			}
		}
		res, err := poster.Post(ctx, mine)
		require.NoError(t, err)
		require.Equal(t, len(mine), res.ByStatus[http.StatusAccepted], res.String())
	}
	// Wrong tokens: another instance's secret, a near miss, an unknown
	// instance; enough of them to trip the guessing limiter.
	body := hooks[0].Body
	other := p.secrets[wasim.InstanceLite]
	for i, tok := range []string{other, p.secrets[wasim.InstancePro] + "x", other, other, other, other, other, other, other, other, other, other} {
		req, err := http.NewRequest(http.MethodPost, p.base+"/webhooks/wapi?token="+url.QueryEscape(tok), bytes.NewReader(body))
		require.NoError(t, err)
		if i%2 == 1 {
			req.Header.Set("X-Webhook-Token", tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, resp.StatusCode)
	}
	for inst, list := range ids {
		for id, r := range p.waitRows(inst, list) {
			require.Equal(t, "success", r.Status, "%s %s: %s", inst, id, r.Reason)
		}
	}
	require.Positive(t, p.sim.Stats().DownloadMedia, "the W-API fallback ran")

	// The API: the right token, the other cliente's, a wrong one; and the
	// admin login, right and wrong.
	get := func(path, token string) int {
		req, err := http.NewRequest(http.MethodGet, p.base+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	var list struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	req, err := http.NewRequest(http.MethodGet, p.base+"/v1/media?limit=100", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+p.api[wasim.InstancePro])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	resp.Body.Close()
	require.NotEmpty(t, list.Items)
	for _, it := range list.Items {
		require.Equal(t, http.StatusOK, get(fmt.Sprintf("/v1/media/%d/content", it.ID), p.api[wasim.InstancePro]))
		require.Equal(t, http.StatusNotFound, get(fmt.Sprintf("/v1/media/%d", it.ID), p.api[wasim.InstanceLite]))
	}
	require.Equal(t, http.StatusUnauthorized, get("/v1/media", p.api[wasim.InstancePro]+"x"))
	require.Equal(t, http.StatusOK, get("/v1/stats", p.api[wasim.InstanceLite]))
	for _, tok := range []string{adminToken + "x", adminToken} {
		resp, err := http.PostForm(p.base+"/admin/login", url.Values{"token": {tok}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 500)
	}

	p.stop() // shutdown logs too
	logs := p.logs.String()
	require.Greater(t, strings.Count(logs, "\n"), 50, "the log is not empty")
	require.Contains(t, logs, `"level":"debug"`, "debug lines are captured")
	// The search is not vacuous: the log speaks of these very requests.
	require.Contains(t, logs, `"instance_id":"`+wasim.InstancePro+`"`)
	require.Contains(t, logs, `"fallback":true`)
	require.Contains(t, logs, "admin login refused")
	for _, s := range secrets {
		for _, form := range secretForms(s.raw) {
			if i := strings.Index(logs, form); i >= 0 {
				t.Errorf("%s appears in the log (as %.12q…): …%s…", s.what, form, logs[max(0, i-200):min(len(logs), i+len(form)+50)])
			}
		}
	}
	t.Logf("%d log lines, %d bytes searched for %d secrets in %d forms each", strings.Count(logs, "\n"), len(logs), len(secrets), len(secretForms(nil)))
}
