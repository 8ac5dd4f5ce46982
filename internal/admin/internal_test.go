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

func TestNiceAxis(t *testing.T) {
	t.Parallel()
	// top → the axis's end and step, with 5 intervals wanted.
	for top, want := range map[int64][2]int64{
		0: {1, 1}, 1: {1, 1}, 3: {3, 1}, 6: {6, 2}, 7: {8, 2}, 9: {10, 2}, 10: {10, 2}, 11: {15, 5},
		// The issue's case: 90 items, an axis to 100 (it went to 200).
		90: {100, 20}, 101: {150, 50}, 200: {200, 50}, 1234: {1500, 500}, 1_000_001: {1_500_000, 500_000},
	} {
		end, step := niceAxis(top, 5)
		require.Equal(t, want, [2]int64{end, step}, "top %d", top)
		require.GreaterOrEqual(t, end, top, "top %d: the axis reaches the top", top)
		require.Less(t, end-step, max(top, 1), "top %d: no tick wasted above the top", top)
		require.Zero(t, end%step)
	}
	for x, want := range map[float64]float64{1: 1, 1.4: 1, 2.5: 2, 3: 5, 6.9: 5, 7: 10, 0.25: 0.2, 4000: 5000} {
		require.InDelta(t, want, niceNum(x, true), 1e-9, "round %v", x)
	}
	for x, want := range map[float64]float64{1: 1, 1.01: 2, 2: 2, 3: 5, 5.5: 10, 90: 100, 0.3: 0.5} {
		require.InDelta(t, want, niceNum(x, false), 1e-9, "ceil %v", x)
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
	require.Equal(t, []string{"0", "2", "4", "6"}, tickLabels(c), "max 6 → step 2")
	require.InDelta(t, c.Top, c.Ticks[3].Y, 0.001, "the last tick tops the plot")
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
	require.Equal(t, []string{"0", "1"}, tickLabels(empty))

	// 90 media on the busiest day: the axis ends at 100, not 200.
	busy := newColumnChart([]catalog.DayCount{{Day: day, Count: 90}, {Day: day.AddDate(0, 0, 1), Count: 40}})
	require.Equal(t, []string{"0", "20", "40", "60", "80", "100"}, tickLabels(busy))
	require.InDelta(t, 0.9*(busy.Base-busy.Top), busy.Columns[0].H, 0.001)
}

func tickLabels(c columnChart) []string {
	var out []string
	for _, tk := range c.Ticks {
		out = append(out, tk.Label)
	}
	return out
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
