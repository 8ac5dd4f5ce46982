package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The observability files: alert rules (Prometheus's rule file format) and
// the Grafana dashboard, both in deploy/observability.
var (
	alertsFile    = []string{"deploy", "observability", "alerts.yaml"}
	dashboardFile = []string{"deploy", "observability", "grafana", "mediapipe.json"}
	namesFile     = []string{"deploy", "observability", "metrics.txt"}
	operationsDoc = []string{"docs", "OPERATIONS.md"}
)

// runbookPrefix starts every runbook_url: an anchor of docs/OPERATIONS.md.
const runbookPrefix = "https://github.com/multichat/mediapipe/blob/main/docs/OPERATIONS.md#"

var promql = parser.NewParser(parser.Options{})

// exportedNames reads the metric families mediapipe exports, a list the
// main module's test TestExportedNames generates from the registry
// (internal/metrics), so this module needs no import of mediapipe.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for line := range strings.Lines(readRepoFile(t, namesFile...)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			names[line] = true
		}
	}
	if !names["mediapipe_downloads_total"] || !names["go_goroutines"] {
		t.Fatalf("%s lacks the families every process exports", strings.Join(namesFile, "/"))
	}
	return names
}

// knownMetric says whether a series name belongs to an exported family; a
// histogram's or summary's family adds _bucket, _sum and _count.
func knownMetric(known map[string]bool, name string) bool {
	if known[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && known[base] {
			return true
		}
	}
	return false
}

// metricNames parses a PromQL expression and returns the metric names its
// selectors use; a selector without a name is an error (it would match
// every series of every job).
func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, sel := range parser.ExtractSelectors(e) {
		i := slices.IndexFunc(sel, func(m *labels.Matcher) bool { return m.Name == model.MetricNameLabel })
		if i < 0 || sel[i].Type != labels.MatchEqual {
			return nil, fmt.Errorf("a selector without an exact metric name: %v", sel)
		}
		names = append(names, sel[i].Value)
	}
	if len(names) == 0 {
		return nil, errors.New("uses no metric")
	}
	return names, nil
}

// checkExpr reports an expression that does not parse or uses a metric the
// code does not export.
func checkExpr(known map[string]bool, where, expr string) []error {
	names, err := metricNames(expr)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", where, err)}
	}
	var errs []error
	for _, n := range names {
		if !knownMetric(known, n) {
			errs = append(errs, fmt.Errorf("%s: metric %s is not exported by mediapipe (%s)", where, n, strings.Join(namesFile, "/")))
		}
	}
	return errs
}

// parseRules parses a rule file with Prometheus's own loader (unknown
// fields refused, expressions and templates checked).
func parseRules(content []byte) (*rulefmt.RuleGroups, []error) {
	return rulefmt.Parse(content, false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// anchors returns the explicit anchors (<a id="...">) of a Markdown text.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`<a id="([^"]+)"></a>`).FindAllStringSubmatch(md, -1) {
		out[m[1]] = true
	}
	return out
}

// checkRules judges parsed alert rules: every metric exported, a severity,
// a summary, and a runbook that exists.
func checkRules(groups *rulefmt.RuleGroups, known, runbooks map[string]bool) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = "record " + r.Record
			}
			if seen[name] {
				add("%s: two rules of that name", name)
			}
			seen[name] = true
			errs = append(errs, checkExpr(known, name, r.Expr)...)
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				add("%s: severity %q, want warning or critical", name, s)
			}
			if r.Annotations["summary"] == "" {
				add("%s: no summary annotation", name)
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookPrefix)
			switch {
			case !ok:
				add("%s: runbook_url %q is not %s<anchor>", name, r.Annotations["runbook_url"], runbookPrefix)
			case !runbooks[anchor]:
				add("%s: runbook_url names #%s, which docs/OPERATIONS.md lacks (<a id=%q></a>)", name, anchor, anchor)
			}
		}
	}
	return errs
}

// The alerts the issue asks for, each a group of causes an operator must
// hear about.
var requiredAlerts = []string{
	"MediapipeDeadLettersGrowing", "MediapipeConsumerBacklog", "MediapipeDownloadFailureRate",
	"MediapipeNoSuccessfulDownload", "MediapipeIngestErrors", "MediapipePostgreSQLNotReady",
	"MediapipeNATSNotReady", "MediapipeMediaStoreErrors",
}

func TestAlertRules(t *testing.T) {
	groups, errs := parseRules([]byte(readRepoFile(t, alertsFile...)))
	report(t, "rulefmt "+strings.Join(alertsFile, "/"), errs)
	if groups == nil {
		t.FailNow()
	}
	report(t, strings.Join(alertsFile, "/"), checkRules(groups, exportedNames(t), anchors(readRepoFile(t, operationsDoc...))))
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	for _, want := range requiredAlerts {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}
	t.Logf("%d alerts: %v", len(names), names)
}

// TestAlertRulesCatchMistakes: the checks refuse a misspelled metric, a
// broken expression, an unknown field and a runbook that does not exist.
func TestAlertRulesCatchMistakes(t *testing.T) {
	good := readRepoFile(t, alertsFile...)
	known := exportedNames(t)
	runbooks := anchors(readRepoFile(t, operationsDoc...))
	for name, c := range map[string]struct{ from, to, want string }{
		"misspelled metric": {"(mediapipe_deadletter_messages)\n", "(mediapipe_dead_letter_messages)\n", "not exported"},
		"broken expression": {"> 1000", "> > 1000", "parse error"},
		"unknown field":     {"severity: warning", "severity: warning\n        severty: warning", "not found"},
		"missing runbook":   {"#alert-consumer-backlog", "#alert-consumer-backlogs", "lacks"},
		"bad template":      {"{{ $labels.stream }} grew", "{{ $labels.stream grew", "template"},
		"nameless selector": {"max by (stream, consumer) (mediapipe_consumer_pending_messages)", `max by (stream, consumer) ({consumer="x"})`, "without an exact metric name"},
	} {
		bad := strings.Replace(good, c.from, c.to, 1)
		if bad == good {
			t.Fatalf("%s: %q not in the rules", name, c.from)
		}
		groups, errs := parseRules([]byte(bad))
		if groups != nil {
			errs = append(errs, checkRules(groups, known, runbooks)...)
		}
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an error with %q, got %v", name, c.want, err)
		}
	}
}

// dashboard is what the check reads of a Grafana dashboard.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*\w+\s*\)$`)

// checkDashboard reports expressions that do not parse or use a metric the
// code does not export, duplicate panel ids and panels without a query.
func checkDashboard(raw []byte, known map[string]bool) []error {
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return []error{err}
	}
	var errs []error
	if d.UID == "" || d.Title == "" {
		errs = append(errs, errors.New("no uid or title"))
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				errs = append(errs, fmt.Errorf("panel %q: id %d used twice", p.Title, p.ID))
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				errs = append(errs, fmt.Errorf("panel %q: no query", p.Title))
			}
			for _, tg := range p.Targets {
				errs = append(errs, checkExpr(known, fmt.Sprintf("panel %q", p.Title), tg.Expr)...)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		m := labelValues.FindStringSubmatch(q)
		switch {
		case m == nil:
			errs = append(errs, fmt.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q))
		case !knownMetric(known, m[1]):
			errs = append(errs, fmt.Errorf("variable %s: metric %s is not exported by mediapipe", v.Name, m[1]))
		}
	}
	return errs
}

func TestDashboard(t *testing.T) {
	raw := readRepoFile(t, dashboardFile...)
	report(t, strings.Join(dashboardFile, "/"), checkDashboard([]byte(raw), exportedNames(t)))
	for name, c := range map[string]struct{ from, to string }{
		"misspelled metric":  {"mediapipe_webhooks_total[5m]", "mediapipe_webhook_total[5m]"},
		"broken expression":  {"sum by (outcome) (", "sum by (outcome (("},
		"misspelled in vars": {"label_values(mediapipe_build_info", "label_values(mediapipe_buildinfo"},
	} {
		bad := strings.Replace(raw, c.from, c.to, 1)
		if bad == raw {
			t.Fatalf("%s: %q not in the dashboard", name, c.from)
		}
		if len(checkDashboard([]byte(bad), exportedNames(t))) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}
