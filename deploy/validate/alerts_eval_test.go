package validate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// alertExprs returns the expression of each alert of alerts.yaml by name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	groups, errs := parseRules([]byte(readRepoFile(t, alertsFile...)))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	return out
}

// fires evaluates an alert's expression at minute `at` over series loaded
// with promqltest's notation (one sample a minute) and says whether it
// returns anything (its `for` aside).
func fires(t *testing.T, expr, series string, at int) bool {
	t.Helper()
	st := promqltest.LoadedStorage(t, "load 1m\n"+series)
	eng := promqltest.NewTestEngine(t, false, 5*time.Minute, 1_000_000)
	q, err := eng.NewInstantQuery(context.Background(), st, nil, expr, time.Unix(0, 0).Add(time.Duration(at)*time.Minute))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", expr, res.Err)
	}
	v, err := res.Vector()
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return len(v) > 0
}

// TestAlertsFire evaluates the rules' expressions with Prometheus's engine
// on made-up series: each fires on the failure it is meant for and stays
// quiet on a healthy pipeline, including when the pod exporting the
// JetStream gauges changes.
func TestAlertsFire(t *testing.T) {
	e := alertExprs(t)
	cases := []struct {
		alert, series string
		at            int
		want          bool
	}{
		{"MediapipeNoSuccessfulDownload", `
  mediapipe_downloads_total{outcome="success",instance="d1"} 0+10x60
  mediapipe_consumer_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 5x60
  mediapipe_consumer_ack_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 8x60`, 45, false},
		{"MediapipeNoSuccessfulDownload", `
  mediapipe_downloads_total{outcome="success",instance="d1"} 100x60
  mediapipe_downloads_total{outcome="expired",instance="d1"} 0+3x60
  mediapipe_consumer_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 5x60
  mediapipe_consumer_ack_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 8x60`, 45, true},
		// No downloader ever reported a download: still an alert.
		{"MediapipeNoSuccessfulDownload", `
  mediapipe_consumer_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 50x60
  mediapipe_consumer_ack_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 0x60`, 45, true},
		{"MediapipeNoSuccessfulDownload", `
  mediapipe_downloads_total{outcome="success",instance="d1"} 100x60
  mediapipe_consumer_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 0x60
  mediapipe_consumer_ack_pending_messages{consumer="downloader",stream="DOWNLOADS",instance="i1"} 0x60`, 45, false},
		// The reporter moves from pod a to pod b with the count unchanged: quiet.
		{"MediapipeDeadLettersGrowing", `
  mediapipe_deadletter_messages{stream="DOWNLOADS",instance="a"} 7x20
  mediapipe_deadletter_messages{stream="DOWNLOADS",instance="b"} _x20 7x40`, 50, false},
		{"MediapipeDeadLettersGrowing", `
  mediapipe_deadletter_messages{stream="DOWNLOADS",instance="a"} 7x20
  mediapipe_deadletter_messages{stream="DOWNLOADS",instance="b"} _x20 9x40`, 45, true},
		{"MediapipeJetStreamReporterMissing", `
  mediapipe_jetstream_reporter{instance="a"} 1x60
  mediapipe_jetstream_reporter{instance="b"} 0x60`, 30, false},
		{"MediapipeJetStreamReporterMissing", `
  mediapipe_jetstream_reporter{instance="a"} 0x60
  mediapipe_jetstream_reporter{instance="b"} 0x60`, 30, true},
		{"MediapipeJetStreamReporterMissing", `
  go_goroutines{instance="a"} 10x60`, 30, true},
		{"MediapipeConsumerBacklog", `
  mediapipe_consumer_pending_messages{consumer="analyzer",stream="WEBHOOKS",instance="a"} 600x60
  mediapipe_consumer_pending_messages{consumer="analyzer",stream="WEBHOOKS",instance="b"} _x30 600x30`, 45, false},
		{"MediapipeIngestErrors", `
  mediapipe_http_request_duration_seconds_count{route="webhooks",code="202",instance="a"} 0+100x60
  mediapipe_http_request_duration_seconds_count{route="webhooks",code="503",instance="a"} 0+5x60`, 30, true},
		{"MediapipeIngestErrors", `
  mediapipe_http_request_duration_seconds_count{route="webhooks",code="202",instance="a"} 0+100x60
  mediapipe_http_request_duration_seconds_count{route="webhooks",code="401",instance="a"} 0+5x60`, 30, false},
		{"MediapipeDownloadFailureRate", `
  mediapipe_downloads_total{outcome="success",instance="a"} 0+10x60
  mediapipe_downloads_total{outcome="mac_mismatch",instance="a"} 0+2x60`, 30, true},
		{"MediapipeDownloadFailureRate", `
  mediapipe_downloads_total{outcome="success",instance="a"} 0+100x60
  mediapipe_downloads_total{outcome="deduplicated",instance="a"} 0+100x60
  mediapipe_downloads_total{outcome="mac_mismatch",instance="a"} 0+2x60`, 30, false},
		{"MediapipeMediaStoreErrors", `
  mediapipe_store_errors_total{op="commit",instance="a"} 0+1x60`, 30, true},
		{"MediapipeMediaStoreErrors", `
  mediapipe_store_errors_total{op="commit",instance="a"} 3x60
  mediapipe_readiness_check{check="store",instance="a"} 1x60`, 30, false},
		{"MediapipeNATSNotReady", `
  mediapipe_readiness_check{check="nats",instance="a"} 1x60
  mediapipe_jetstream_up{instance="a"} 0x60`, 30, true},
		// Two deliverers read the same outbox of 600: max, not sum, stays quiet.
		{"MediapipeEventsNotPublished", `
  mediapipe_events_unpublished{instance="a"} 600x60
  mediapipe_events_unpublished{instance="b"} 600x60`, 30, false},
		{"MediapipeEventsNotPublished", `
  mediapipe_events_unpublished{instance="a"} -1x60`, 30, true},
		{"MediapipeCallbacksFailing", `
  mediapipe_callback_posts_total{cliente_id="7",outcome="delivered",instance="a"} 0+1x60
  mediapipe_callback_posts_total{cliente_id="7",outcome="http_5xx",instance="a"} 0+3x60
  mediapipe_callback_posts_total{cliente_id="8",outcome="delivered",instance="a"} 0+9x60`, 30, true},
		{"MediapipeCallbacksFailing", `
  mediapipe_callback_posts_total{cliente_id="8",outcome="delivered",instance="a"} 0+9x60
  mediapipe_callback_posts_total{cliente_id="8",outcome="skipped",instance="a"} 0+9x60`, 30, false},
		{"MediapipePostgreSQLNotReady", `
  mediapipe_readiness_check{check="postgres",instance="a"} 1x60`, 30, false},
	}
	for _, c := range cases {
		expr, ok := e[c.alert]
		if !ok {
			t.Fatalf("no alert %s", c.alert)
		}
		if got := fires(t, expr, strings.TrimPrefix(c.series, "\n"), c.at); got != c.want {
			t.Errorf("%s at %dm over%s\nfires: %v, want %v", c.alert, c.at, c.series, got, c.want)
		}
	}
}
