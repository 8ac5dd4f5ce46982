package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multichat/mediapipe/internal/catalog"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_750_000_000, 0)
	s := newSessions("the-admin-token-0123456789", time.Hour, func() time.Time { return now })

	require.True(t, s.checkToken("the-admin-token-0123456789"))
	require.False(t, s.checkToken("the-admin-token-012345678"))
	require.False(t, s.checkToken(""))

	value, sess := s.issue()
	require.NotContains(t, value, "the-admin-token")
	got, ok := s.verify(value)
	require.True(t, ok)
	require.Equal(t, sess, got)
	require.Equal(t, now.Add(time.Hour), got.expires)

	_, other := s.issue()
	require.NotEqual(t, sess.csrf, other.csrf, "a CSRF token per session")

	// Another token's key signs different sessions.
	_, ok = newSessions("another-token-0123456789", time.Hour, s.now).verify(value)
	require.False(t, ok)

	// A changed expiry, id or version breaks the signature.
	parts := strings.Split(value, ".")
	for _, forged := range []string{
		strings.Join([]string{parts[0], "9999999999", parts[2], parts[3]}, "."),
		strings.Join([]string{parts[0], parts[1], "AAAAAAAAAAAAAAAAAAAAAA", parts[3]}, "."),
		strings.Join([]string{"2", parts[1], parts[2], parts[3]}, "."),
		value + ".x", "", strings.Repeat("a", 300),
	} {
		_, ok := s.verify(forged)
		require.False(t, ok, forged)
	}

	// Expiry.
	now = now.Add(time.Hour - time.Second)
	_, ok = s.verify(value)
	require.True(t, ok)
	now = now.Add(time.Second)
	_, ok = s.verify(value)
	require.False(t, ok)
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/admin/media?type=image": "/admin/media?type=image",
		"/admin/media/5":          "/admin/media/5",
		"":                        "/admin/",
		"/admin/login":            "/admin/",
		"//evil.example/admin/":   "/admin/",
		"https://evil.example/":   "/admin/",
		"/admin/\\evil":           "/admin/",
		"/v1/media":               "/admin/",
	} {
		require.Equal(t, want, safeNext(next), next)
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	req := func(header ...string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://admin.example:8080/admin/reprocess", nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return r
	}
	require.True(t, sameOrigin(req()))
	require.True(t, sameOrigin(req("Origin", "http://admin.example:8080")))
	require.True(t, sameOrigin(req("Origin", "https://ADMIN.example:8080")))
	require.False(t, sameOrigin(req("Origin", "http://evil.example")))
	require.False(t, sameOrigin(req("Origin", "null")))
	require.True(t, sameOrigin(req("Sec-Fetch-Site", "same-origin")))
	require.False(t, sameOrigin(req("Sec-Fetch-Site", "same-site")))
	require.False(t, sameOrigin(req("Sec-Fetch-Site", "cross-site")))
}

func TestNiceStep(t *testing.T) {
	t.Parallel()
	for top, want := range map[int64]int64{0: 1, 3: 1, 4: 1, 5: 2, 8: 2, 9: 5, 20: 5, 21: 10, 399: 100, 401: 200, 1_000_001: 500_000} {
		require.Equal(t, want, niceStep(top, 4), "top %d", top)
	}
}

func TestColumnChart(t *testing.T) {
	t.Parallel()
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var days []catalog.DayCount
	for i := range 30 {
		days = append(days, catalog.DayCount{Day: day.AddDate(0, 0, i), Count: int64(i % 7)})
	}
	c := newColumnChart(days)
	require.Len(t, c.Columns, 30)
	require.Len(t, c.Ticks, 5)
	require.Equal(t, "8", c.Ticks[4].Label, "max 6 → step 2")
	var labels int
	for i, col := range c.Columns {
		require.GreaterOrEqual(t, col.X, c.Left)
		require.LessOrEqual(t, col.X+col.W, c.Right+0.001)
		require.InDelta(t, c.Base, col.Y+col.H, 0.001, "columns stand on the axis")
		if days[i].Count == 0 {
			require.Zero(t, col.H)
		}
		if col.Label != "" {
			labels++
		}
	}
	require.LessOrEqual(t, labels, colLabels)
	require.Equal(t, "Jun 30", c.Columns[29].Label, "today is labelled")
	var total int64
	for _, d := range days {
		total += d.Count
	}
	require.Equal(t, total, c.Total)

	empty := newColumnChart(nil)
	require.Empty(t, empty.Columns)
	require.Len(t, empty.Ticks, 5)
}

func TestBarChart(t *testing.T) {
	t.Parallel()
	c := newBarChart([]count{{"a", 10}, {"b", 5}, {"c", 0}},
		func(k string) string { return "x-" + k }, func(k string) string { return "/admin/media?k=" + k })
	require.Len(t, c.Bars, 3)
	require.InDelta(t, c.TrackW, c.Bars[0].W, 0.001)
	require.InDelta(t, c.TrackW/2, c.Bars[1].W, 0.001)
	require.Zero(t, c.Bars[2].W)
	require.Equal(t, "x-b", c.Bars[1].Class)
	require.Equal(t, "/admin/media?k=c", c.Bars[2].Href)
}

func TestHumanSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 123456: "120.6 KiB", 5 << 30: "5.0 GiB"} {
		require.Equal(t, want, funcs["size"].(func(int64) string)(n))
	}
	require.Equal(t, "1,234,567", groupDigits(1234567))
	require.Equal(t, "-1,000", groupDigits(-1000))
	require.Equal(t, "999", groupDigits(999))
	require.Equal(t, "abc…", truncate("abcdef", 3))
	require.Equal(t, "ção", truncate("ção", 3))
}
