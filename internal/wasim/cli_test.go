package wasim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMainPostsAndExits(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{InstancePro: "pro-secret", "ABCDEF-123456-XYZXYZ": "other"}
	rc := newReceiver(t, secrets, nil)
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("# webhook secrets\nABCDEF-123456-XYZXYZ=other\n"), 0o600))

	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{
		"--once", "--target", rc.srv.URL + "/webhooks/wapi", "--instance", InstancePro + "=pro-secret",
		"--token-file", tokens, "--count", "25", "--rate", "0", "--seed", "9",
		"--error-rate", "0.5", "--latency", "1ms", "--expired-rate", "1", "--log-level", "warn",
	}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	s := out.String()
	require.Regexp(t, `(?m)^WHATSAPP_CDN_BASE_URL=http://127\.0\.0\.1:\d+$`, s)
	require.Regexp(t, `(?m)^WAPI_BASE_URL=http://127\.0\.0\.1:\d+$`, s)
	require.Contains(t, s, "W-API token wasim-token-"+InstancePro)
	require.Contains(t, s, "15 media items (15 expired")
	require.Contains(t, s, "202=25")
	require.NotContains(t, s+errOut.String(), "pro-secret")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Len(t, rc.got, 25)
}

func TestMainUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--addr", "0.0.0.0:0"},
		{"--error-rate", "1.5"},
		{"--target", "http://127.0.0.1:1/webhooks/wapi"},
		{"--target", "nope", "--instance", "A=b"},
		{"--instance", "no-equals-sign"},
		{"--token-file", "/nonexistent/tokens"},
		{"--bogus"},
	} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, Main(context.Background(), args, &out, &errOut), strings.Join(args, " "))
		require.NotEmpty(t, errOut.String())
	}
	var out, errOut bytes.Buffer
	require.Equal(t, 0, Main(context.Background(), []string{"--help"}, &out, &errOut))
	require.Contains(t, errOut.String(), "--target")
}

func TestMainServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	require.Equal(t, 0, Main(ctx, []string{"--hostile=false", "--log-level", "warn"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "13 media items")
	require.Contains(t, out.String(), "serving until interrupted")
}
