package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestRulesWithPromtool checks the rules and runs their unit tests under every Prometheus
// release the tests know (Prometheus 2 and 3 differ, in the lookback window for one).
func TestRulesWithPromtool(t *testing.T) {
	t.Parallel()
	for _, p := range testenv.Prometheuses(t) {
		t.Run("prometheus-"+p.Version, func(t *testing.T) {
			t.Parallel()
			run(t, p.Promtool, "check", "rules", "prometheus/alerts.yml")
			if out := run(t, p.Promtool, "test", "rules", "prometheus/alerts_test.yml"); !strings.Contains(out, "SUCCESS") {
				t.Errorf("promtool test rules:\n%s", out)
			}
			run(t, p.Promtool, "check", "config", "prometheus/prometheus.yml")
		})
	}
}

// TestRulesUnderReplicas runs every unit test of alerts_test.yml again with every input series
// scraped from two replicas of one exporter (an HA pair: the same series under two instance
// and pod labels), expecting the very same alerts and recorded samples: each rule evaluates
// without error (no many-to-many match) and fires once per target, with labels that do not
// depend on which replica is up.
func TestRulesUnderReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("every promtool case again with every series doubled: TestRulesWithPromtool runs them once")
	}
	t.Parallel()
	file := filepath.Join(t.TempDir(), "alerts_replicated_test.yml")
	writeFile(t, file, replicatedRuleTests(t))
	for _, p := range testenv.Prometheuses(t) {
		t.Run("prometheus-"+p.Version, func(t *testing.T) {
			t.Parallel()
			if out := run(t, p.Promtool, "test", "rules", file); !strings.Contains(out, "SUCCESS") {
				t.Errorf("promtool test rules:\n%s", out)
			}
		})
	}
}

var instanceLabel = regexp.MustCompile(`\binstance="([^"]*)"`)

// replicaSeries is series as replica r scrapes it: under its own instance and pod labels. A
// series that names its instance (one of several exporters) gets a replica of that instance.
func replicaSeries(series, r string) string {
	if instanceLabel.MatchString(series) {
		return instanceLabel.ReplaceAllString(series, `instance="$1/`+r+`",pod="$1/`+r+`"`)
	}
	labels := `instance="replica-` + r + `",pod="exporter-` + r + `"`
	switch {
	case strings.HasSuffix(series, "{}"):
		return strings.TrimSuffix(series, "}") + labels + "}"
	case strings.HasSuffix(series, "}"):
		return strings.TrimSuffix(series, "}") + "," + labels + "}"
	default:
		return series + "{" + labels + "}"
	}
}

// replicatedRuleTests returns alerts_test.yml with every input series doubled by replicaSeries
// and the rule file named by its absolute path.
func replicatedRuleTests(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("prometheus/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	mappingValue(t, root, "rule_files").Content = []*yaml.Node{{Kind: yaml.ScalarNode, Value: rules}}
	doubled := 0
	for _, tc := range mappingValue(t, root, "tests").Content {
		input := mappingValue(t, tc, "input_series")
		var series []*yaml.Node
		for _, s := range input.Content {
			for _, r := range []string{"a", "b"} {
				c := cloneNode(s)
				name := mappingValue(t, c, "series")
				name.Value = replicaSeries(name.Value, r)
				series = append(series, c)
			}
			doubled++
		}
		input.Content = series
	}
	if doubled < 100 {
		t.Fatalf("only %d input series found in alerts_test.yml", doubled)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// mappingValue is the value of key in the YAML mapping node m.
func mappingValue(t *testing.T, m *yaml.Node, key string) *yaml.Node {
	t.Helper()
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	t.Fatalf("alerts_test.yml: no %s at line %d", key, m.Line)
	return nil
}

func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = nil
	for _, child := range n.Content {
		c.Content = append(c.Content, cloneNode(child))
	}
	return &c
}

// TestEveryRuleIsUnitTested keeps alerts_test.yml covering every alert with a firing case and
// every recording rule with a promql_expr_test of its own series, which TestRulesUnderReplicas
// then runs with two replicas.
func TestEveryRuleIsUnitTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	var tests struct {
		GroupEvalOrder []string `yaml:"group_eval_order"`
		Tests          []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
			PromQLExprTest []struct {
				Expr       string           `yaml:"expr"`
				ExpSamples []map[string]any `yaml:"exp_samples"`
			} `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fires, recorded := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
		for _, e := range tc.PromQLExprTest {
			if len(e.ExpSamples) > 0 {
				for _, n := range metricName.FindAllString(e.Expr, -1) {
					recorded[n] = true
				}
			}
		}
	}
	var groups []string
	for _, g := range rules.Groups {
		groups = append(groups, g.Name)
		for _, r := range g.Rules {
			if r.Alert != "" && !fires[r.Alert] {
				t.Errorf("alert %s has no unit test in which it fires", r.Alert)
			}
			if r.Record != "" && !recorded[r.Record] {
				t.Errorf("recording rule %s has no promql_expr_test with samples", r.Record)
			}
		}
	}
	// Without a full order promtool evaluates groups in random order, and the
	// alerts read the recording rules one step late in some runs only.
	if !slices.Equal(tests.GroupEvalOrder, groups) {
		t.Errorf("alerts_test.yml group_eval_order = %q, want every group in file order %q", tests.GroupEvalOrder, groups)
	}
}

// runbookBase is where the rules' runbook_url annotations point: docs/runbooks.md as GitHub
// renders it on main.
const runbookBase = "https://github.com/atlas-backup-exporter/atlas_backup_exporter/blob/main/docs/runbooks.md#"

// TestRunbookURLs: every alert links to its own section of docs/runbooks.md, by the anchor
// GitHub gives the section's heading, and every section there is an alert's.
func TestRunbookURLs(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	raw, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // anchor: heading
	for _, m := range regexp.MustCompile(`(?m)^## (.+)$`).FindAllStringSubmatch(string(raw), -1) {
		sections[githubAnchor(m[1])] = m[1]
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, runbookBase)
			switch {
			case !ok:
				t.Errorf("%s: runbook_url %q does not point into %s", r.Alert, url, runbookBase)
			case sections[anchor] != r.Alert:
				t.Errorf("%s: runbook_url %q: docs/runbooks.md has no section %q (anchor %q)", r.Alert, url, r.Alert, githubAnchor(r.Alert))
			}
			if _, ok := r.Annotations["runbook"]; ok {
				t.Errorf("%s: a prose runbook annotation; the text belongs in docs/runbooks.md", r.Alert)
			}
		}
	}
	for _, heading := range sections {
		if !alerts[heading] {
			t.Errorf("docs/runbooks.md has a section %q, which is no alert of alerts.yml", heading)
		}
	}
}

// TestREADMEAlertsTable: the README's alerts table lists every alert of alerts.yml once, with
// its severity and a link to its runbook, and no other.
func TestREADMEAlertsTable(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert  string            `yaml:"alert"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ severity, link string }
	rows := map[string]row{}
	for _, m := range regexp.MustCompile(`(?m)^\| (AtlasBackup\w+) \| (\w+) \| .* \| \[runbook\]\(([^)]*)\) \|$`).FindAllStringSubmatch(string(raw), -1) {
		if _, dup := rows[m[1]]; dup {
			t.Errorf("the README's alerts table lists %s twice", m[1])
		}
		rows[m[1]] = row{m[2], m[3]}
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			want := row{r.Labels["severity"], "docs/runbooks.md#" + githubAnchor(r.Alert)}
			if got, ok := rows[r.Alert]; !ok {
				t.Errorf("the README's alerts table lacks %s (want a row `| %s | %s | what it means | [runbook](%s) |`)", r.Alert, r.Alert, want.severity, want.link)
			} else if got != want {
				t.Errorf("the README's alerts table: %s has severity %q and runbook %q, want %q and %q", r.Alert, got.severity, got.link, want.severity, want.link)
			}
		}
	}
	for name := range rows {
		if !alerts[name] {
			t.Errorf("the README's alerts table lists %s, which is no alert of alerts.yml", name)
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading: lower case, spaces as hyphens,
// other punctuation dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
