package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// dashboardQuery is one query of the dashboard: a panel's target or a variable's label_values.
type dashboardQuery struct {
	Panel string // the panel's title, or "variable <name>"
	Expr  string // with Grafana's variables replaced by values
	Label string // for a variable, the label whose values it offers
}

// dashboardQueries reads the dashboard's queries, checking that it has the variables the panels
// use.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	raw, err := os.ReadFile("grafana/atlas-backup.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	var queries []dashboardQuery
	labelValues := regexp.MustCompile(`^label_values\((.*), *(\w+)\)$`)
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok {
			m := labelValues.FindStringSubmatch(q["query"].(string))
			if m == nil {
				t.Errorf("variable %s: unexpected query %v", v.Name, q["query"])
				continue
			}
			queries = append(queries, dashboardQuery{"variable " + v.Name, m[1], m[2]})
		}
	}
	for _, want := range []string{"datasource", "job", "instance", "project", "cluster", "kind"} {
		if !vars[want] {
			t.Errorf("dashboard lacks the %s variable", want)
		}
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries = append(queries, dashboardQuery{Panel: p.Title, Expr: tg.Expr})
		}
	}
	if len(queries) < 20 {
		t.Fatalf("only %d expressions found", len(queries))
	}
	// Each variable at All: its allValue.
	subst := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$job", ".+", "$instance", ".+", "$project", ".*", "$cluster", ".*", "$kind", ".*")
	for i, q := range queries {
		queries[i].Expr = subst.Replace(q.Expr)
		if strings.Contains(queries[i].Expr, "$") {
			t.Errorf("%s: unknown variable in %q", q.Panel, q.Expr)
		}
	}
	return queries
}

func TestGrafanaDashboard(t *testing.T) {
	queries := dashboardQueries(t)
	// Every expression must parse: promtool checks them as recording rules.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	known := knownMetrics(t)
	for i, q := range queries {
		b, _ := json.Marshal(q.Expr)
		fmt.Fprintf(&rules, "      - record: dashboard_expr_%d\n        expr: %s\n", i, b)
		for _, n := range metricName.FindAllString(q.Expr, -1) {
			if !known[n] {
				t.Errorf("dashboard expression names %s, which nothing exports or records: %s", n, q.Expr)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	writeFile(t, file, rules.String())
	for _, p := range testenv.Prometheuses(t) {
		run(t, p.Promtool, "check", "rules", file)
	}
}

// queryResult is Prometheus's answer to an instant query.
type queryResult struct {
	Status   string   `json:"status"`
	Error    string   `json:"error"`
	Warnings []string `json:"warnings"`
	Data     struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// instantQuery evaluates q at time at.
func (p *promServer) instantQuery(q string, at time.Time) (queryResult, error) {
	var r queryResult
	body := httpGetQuiet(p.api + "query?query=" + url.QueryEscape(q) + fmt.Sprintf("&time=%d", at.Unix()))
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return r, fmt.Errorf("%v: %q", err, body)
	}
	return r, nil
}

// shown is what a panel shows of the answer, as sorted lines: for a variable the distinct
// values of its label; for a topk or bottomk the values (which of two series tied on the k-th
// value it keeps is Prometheus's choice); else each series' labels and (unless labelsOnly)
// value.
func (r queryResult) shown(q dashboardQuery, labelsOnly bool) []string {
	var out []string
	for _, s := range r.Data.Result {
		switch {
		case q.Label != "":
			out = append(out, s.Metric[q.Label])
		case topK.MatchString(q.Expr):
			out = append(out, fmt.Sprint(s.Value[1]))
		case labelsOnly:
			out = append(out, alert{Labels: s.Metric}.key())
		default:
			out = append(out, fmt.Sprintf("%s %v", alert{Labels: s.Metric}.key(), s.Value[1]))
		}
	}
	sort.Strings(out)
	if q.Label != "" {
		out = slices.Compact(out)
	}
	return out
}

// readTimeFamilies are the families whose values say when an exporter read Atlas, which differ
// between two exporters reading the same estate.
const readTimeFamilies = `atlas_backup_(collect_timestamp_seconds|discovery_timestamp_seconds|tamper_baseline_timestamp_seconds)`

var (
	readTimes = regexp.MustCompile(readTimeFamilies)
	// The exporter's own series: each replica's process has its own.
	perProcess = regexp.MustCompile(`\batlas_backup_(up|exporter_\w+)\b`)
	selector   = regexp.MustCompile(`\b(atlas_backup[a-zA-Z0-9_:]*)(\{)?`)
	topK       = regexp.MustCompile(`\b(top|bottom)k\(`)
)

// allUpInstant waits for an instant at which every target's last scrape had succeeded, and
// returns it. A scrape that fails (on a loaded machine one can outlast the 1 s scrape timeout)
// marks its target's series stale until the next: panels evaluated then lack that target's
// rows, and a replica's series stand in for its shard's. The instant is 3 s back, whole
// seconds as queries take it: any scrape begun before it has ended (1 s timeout) and been
// stored by the time it is queried.
func allUpInstant(t *testing.T, p *promServer) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, time.Minute, "an instant at which Prometheus "+p.version+" had scraped every target successfully", func() bool {
		at = time.Now().Add(-3 * time.Second).Truncate(time.Second)
		r, err := p.instantQuery("up", at)
		if err != nil || r.Status != "success" || len(r.Data.Result) == 0 {
			return false
		}
		for _, s := range r.Data.Result {
			if s.Value[1] != "1" {
				return false
			}
		}
		return true
	})
	return at
}

// checkDashboard evaluates every dashboard query as an instant query and fails on an error or a
// warning. Given the instance of a replica scraped beside another replica of its shard, it also
// checks that each panel over per-target series shows exactly what it shows with that replica's
// series left out (labels only for the times of reading): a panel that counts or lists a target
// twice, or by instance, differs.
func checkDashboard(t *testing.T, p *promServer, replica string) {
	t.Helper()
	at := allUpInstant(t, p)
	for _, q := range dashboardQueries(t) {
		r, err := p.instantQuery(q.Expr, at)
		if err != nil || r.Status != "success" || len(r.Warnings) > 0 {
			t.Errorf("Prometheus %s, panel %q: %s: status %q, error %q, warnings %q %v", p.version, q.Panel, q.Expr, r.Status, r.Error, r.Warnings, err)
			continue
		}
		if replica == "" || perProcess.MatchString(q.Expr) {
			continue
		}
		without := selector.ReplaceAllStringFunc(q.Expr, func(s string) string {
			if strings.HasSuffix(s, "{") {
				return s + `instance!="` + replica + `",`
			}
			return s + `{instance!="` + replica + `"}`
		})
		labelsOnly := readTimes.MatchString(q.Expr)
		rw, err := p.instantQuery(without, at)
		if err != nil {
			t.Errorf("Prometheus %s: %s: %v", p.version, without, err)
			continue
		}
		got, want := r.shown(q, labelsOnly), rw.shown(q, labelsOnly)
		if len(want) == 0 {
			t.Errorf("Prometheus %s, panel %q: %s is empty", p.version, q.Panel, without)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Prometheus %s, panel %q: %s differs with the replica %s:\n%s", p.version, q.Panel, q.Expr, replica,
				testenv.FirstDiff(strings.Join(want, "\n"), strings.Join(got, "\n")))
		}
	}
}

// expectPanel checks what the dashboard's panel of that title shows: the lines of each of its
// queries in turn, as shown sorts them.
func expectPanel(t *testing.T, p *promServer, title string, want ...string) {
	t.Helper()
	at := time.Now().Add(-time.Second)
	var got []string
	found := false
	for _, q := range dashboardQueries(t) {
		if q.Panel != title {
			continue
		}
		found = true
		r, err := p.instantQuery(q.Expr, at)
		if err != nil || r.Status != "success" {
			t.Errorf("Prometheus %s, panel %q: %s: status %q, error %q %v", p.version, title, q.Expr, r.Status, r.Error, err)
		}
		got = append(got, r.shown(q, false)...)
	}
	if !found {
		t.Fatalf("the dashboard has no panel %q", title)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Prometheus %s, panel %q shows\n%s\nwant\n%s", p.version, title, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
