package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// dashboardQuery is one query of the dashboard: a panel's target or a variable's label_values.
type dashboardQuery struct {
	Panel string // the panel's title, or "variable <name>"
	Expr  string // with Grafana's variables replaced by values
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
	labelValues := regexp.MustCompile(`^label_values\((.*), *\w+\)$`)
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok {
			m := labelValues.FindStringSubmatch(q["query"].(string))
			if m == nil {
				t.Errorf("variable %s: unexpected query %v", v.Name, q["query"])
				continue
			}
			queries = append(queries, dashboardQuery{"variable " + v.Name, m[1]})
		}
	}
	for _, want := range []string{"datasource", "project", "cluster", "kind"} {
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
	subst := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$project", ".*", "$cluster", ".*", "$kind", ".*")
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
