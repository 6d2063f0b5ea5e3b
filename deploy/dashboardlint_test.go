package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The dashboard as Grafana's dashboard-linter (github.com/grafana/dashboard-linter) reads it.
// The Go module proxy does not serve the linter, so TestDashboardLint checks its rules here;
// TestGrafanaDashboard has promtool parse every expression (its target-promql and
// template-label-promql rules).
type lintDashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Requires []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"__requires"`
	Editable   bool `json:"editable"`
	Templating struct {
		List []lintVariable `json:"list"`
	} `json:"templating"`
	Panels []lintPanel `json:"panels"`
}

type lintVariable struct {
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *lintDatasource `json:"datasource"`
	Multi      bool            `json:"multi"`
	AllValue   string          `json:"allValue"`
	Refresh    int             `json:"refresh"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type lintDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type lintPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  *lintDatasource `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit     string          `json:"unit"`
			Mappings json.RawMessage `json:"mappings"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Options struct {
		ReduceOptions struct {
			Fields string `json:"fields"`
		} `json:"reduceOptions"`
	} `json:"options"`
	Targets []struct {
		Expr       string          `json:"expr"`
		Datasource *lintDatasource `json:"datasource"`
	} `json:"targets"`
}

// The panel types the linter's panel rules look at.
var lintedPanelTypes = []string{"stat", "singlestat", "graph", "table", "timeseries", "gauge"}

// Units Grafana knows (a subset of the linter's list, which enumerates Grafana's).
var grafanaUnits = []string{"none", "short", "percent", "percentunit", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurations",
	"dtdurationms", "dateTimeAsIso", "dateTimeFromNow", "bytes", "decbytes", "bits", "Bps", "binBps", "ops", "reqps", "rps",
	"wps", "iops", "cps", "bool", "bool_yes_no", "bool_on_off"}

func templatedDatasource(ds *lintDatasource) bool {
	return ds != nil && (ds.UID == "$datasource" || ds.UID == "${datasource}")
}

// TestDashboardLint checks the rules of Grafana's dashboard-linter on the dashboard, each
// failure named by its rule, plus what makes it importable: __inputs for the data source (so a
// fresh Grafana asks for one) and __requires naming Grafana, Prometheus and every panel type.
func TestDashboardLint(t *testing.T) {
	raw, err := os.ReadFile("grafana/atlas-backup.json")
	if err != nil {
		t.Fatal(err)
	}
	var d lintDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	for _, problem := range lintProblems(d) {
		t.Error(problem)
	}
}

// lintProblems returns what the linter's rules (and import) find wrong with d.
func lintProblems(d lintDashboard) []string {
	var problems []string
	fail := func(rule, format string, args ...any) {
		problems = append(problems, rule+": "+fmt.Sprintf(format, args...))
	}

	if d.Editable {
		fail("uneditable-dashboard", "the dashboard is editable")
	}

	// template-datasource-rule: one templated data source, named and labelled as the linter
	// wants; import (__inputs) sets its default.
	var datasources []string
	for _, v := range d.Templating.List {
		if v.Type != "datasource" {
			continue
		}
		datasources = append(datasources, v.Name)
		if v.Name != "datasource" || v.Label != "Data source" || string(v.Query) != `"prometheus"` {
			fail("template-datasource-rule", "variable %s (label %q, query %s), want datasource, \"Data source\", \"prometheus\"", v.Name, v.Label, v.Query)
		}
		inputs := map[string]bool{}
		for _, in := range d.Inputs {
			if in.Type == "datasource" && in.PluginID == "prometheus" {
				inputs["${"+in.Name+"}"] = true
			}
		}
		if value, _ := v.Current.Value.(string); !inputs[value] {
			fail("import", "the data source variable defaults to %v, not to a Prometheus data source of __inputs %v", v.Current.Value, d.Inputs)
		}
	}
	if len(datasources) != 1 {
		fail("template-datasource-rule", "%d templated data sources %q, want one", len(datasources), datasources)
	}

	// template-job-rule, template-instance-rule; template-on-time-change-reload-rule and
	// template-label-promql-rule's choice of function for every query variable.
	labelFunction := regexp.MustCompile(`^([a-z_]+)\((.+)\)$`)
	for _, want := range []string{"job", "instance"} {
		i := slices.IndexFunc(d.Templating.List, func(v lintVariable) bool {
			return v.Name == want
		})
		if i < 0 {
			fail("template-"+want+"-rule", "no %s variable", want)
			continue
		}
		v := d.Templating.List[i]
		if !templatedDatasource(v.Datasource) || v.Type != "query" || v.Label != strings.ToUpper(want[:1])+want[1:] || !v.Multi || v.AllValue != ".+" {
			fail("template-"+want+"-rule", "%s: datasource %v, type %s, label %q, multi %v, allValue %q; want ${datasource}, query, %q, multi, .+",
				want, v.Datasource, v.Type, v.Label, v.Multi, v.AllValue, strings.ToUpper(want[:1])+want[1:])
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		_ = json.Unmarshal(v.Query, &q)
		m := labelFunction.FindStringSubmatch(q.Query)
		if m == nil || !slices.Contains([]string{"label_names", "label_values", "metrics", "query_result"}, m[1]) {
			fail("template-label-promql-rule", "variable %s: query %q is no label_names, label_values, metrics or query_result", v.Name, q.Query)
		}
		if v.Refresh != 2 {
			fail("template-on-time-change-reload-rule", "variable %s: refresh %d, want 2 (on time range change)", v.Name, v.Refresh)
		}
	}

	types := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		types[p.Type] = true
		if !slices.Contains(lintedPanelTypes, p.Type) {
			fail("panel-type", "panel %d %q: type %s, which the linter's rules do not look at", p.ID, p.Title, p.Type)
			continue
		}
		if p.Title == "" || p.Description == "" {
			fail("panel-title-description-rule", "panel %d: title %q, description %q", p.ID, p.Title, p.Description)
		}
		if !templatedDatasource(p.Datasource) {
			fail("panel-datasource-rule", "panel %q uses data source %v", p.Title, p.Datasource)
		}
		if unit := panelUnit(p); (p.Type != "stat" || p.Options.ReduceOptions.Fields == "") && !hasMappings(p) && !slices.Contains(grafanaUnits, unit) {
			fail("panel-units-rule", "panel %q: unit %q", p.Title, unit)
		}
		if len(p.Targets) == 0 {
			fail("panel-no-targets-rule", "panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !templatedDatasource(tg.Datasource) {
				fail("panel-datasource-rule", "panel %q: a query uses data source %v", p.Title, tg.Datasource)
			}
			for _, problem := range targetProblems(tg.Expr) {
				fail(problem[0], "panel %q: %s: %s", p.Title, problem[1], tg.Expr)
			}
		}
	}

	required := map[string]bool{}
	for _, r := range d.Requires {
		required[r.Type+"/"+r.ID] = true
	}
	want := []string{"grafana/grafana", "datasource/prometheus"}
	for typ := range types {
		want = append(want, "panel/"+typ)
	}
	for _, w := range want {
		if !required[w] {
			fail("import", "__requires lacks %s", w)
		}
	}
	return problems
}

// panelUnit is the unit the linter reads: the last override's, else the default's.
func panelUnit(p lintPanel) string {
	unit := ""
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if prop.ID == "unit" {
				unit, _ = prop.Value.(string)
			}
		}
	}
	if unit == "" {
		unit = p.FieldConfig.Defaults.Unit
	}
	return unit
}

func hasMappings(p lintPanel) bool {
	m := strings.TrimSpace(string(p.FieldConfig.Defaults.Mappings))
	return m != "" && m != "null" && m != "[]"
}

// targetProblems checks one query by the linter's target rules: target-job-rule and
// target-instance-rule (every selector matches job=~"$job" and instance=~"$instance"), and
// target-rate-interval-rule (rate and irate over $__rate_interval). A recorded series (its name
// has a colon) has lost the instance label, and the thresholds the job too, so it cannot match
// them: it may go without, as long as the query joins it to a selector that does (the linter
// itself would flag it). Each problem is its rule and what is wrong.
func targetProblems(expr string) [][2]string {
	var problems [][2]string
	selectors, err := promqlSelectors(expr)
	if err != nil {
		return [][2]string{{"target-promql-rule", err.Error()}}
	}
	filtered := false
	for _, s := range selectors {
		if strings.Contains(s.name, ":") {
			continue
		}
		for _, label := range []string{"job", "instance"} {
			if !slices.Contains(s.matchers, label+`=~"$`+label+`"`) {
				problems = append(problems, [2]string{"target-" + label + "-rule", fmt.Sprintf("%s lacks %s=~\"$%s\"", s.name, label, label)})
			}
		}
		filtered = true
	}
	if !filtered {
		problems = append(problems, [2]string{"target-job-rule", "no selector of an exported series filters on $job and $instance"})
	}
	for _, fn := range regexp.MustCompile(`\b(i?rate)\(`).FindAllStringIndex(expr, -1) {
		inner := expr[fn[1]:]
		if end := matchingParen(inner); end >= 0 {
			inner = inner[:end]
		}
		for _, r := range regexp.MustCompile(`\[([^\]]*)\]`).FindAllStringSubmatch(inner, -1) {
			if r[1] != "$__rate_interval" {
				problems = append(problems, [2]string{"target-rate-interval-rule", fmt.Sprintf("%s over [%s], not [$__rate_interval]", expr[fn[0]:fn[1]-1], r[1])})
			}
		}
	}
	return problems
}

// matchingParen is the index in s of the parenthesis that closes one opened just before s, or -1.
func matchingParen(s string) int {
	depth := 1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

type promSelector struct {
	name     string
	matchers []string // name, operator and quoted value: job=~"$job"
}

// promqlKeywords are identifiers of PromQL that are no metric name.
var promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}

// promqlSelectors returns the vector selectors of a PromQL expression: each metric name, with
// the matchers in braces after it. It scans the tokens PromQL has (strings, numbers and
// durations, identifiers, brace and bracket groups); promtool checks the grammar.
func promqlSelectors(expr string) ([]promSelector, error) {
	var out []promSelector
	isIdent := func(r byte, first bool) bool {
		return r == '_' || r == ':' || unicode.IsLetter(rune(r)) || (!first && unicode.IsDigit(rune(r)))
	}
	skipSpace := func(i int) int {
		for i < len(expr) && unicode.IsSpace(rune(expr[i])) {
			i++
		}
		return i
	}
	labelList := false // inside by (...), on (...) and the like: label names, not metrics
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end := strings.IndexByte(expr[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			i += end + 2
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated range at %d", i)
			}
			i += end + 1
		case c == ')':
			labelList = false
			i++
		case unicode.IsDigit(rune(c)) || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++
			}
		case isIdent(c, true):
			start := i
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
			name := expr[start:i]
			next := skipSpace(i)
			switch {
			case slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right"}, name):
				labelList = next < len(expr) && expr[next] == '('
				i = next + 1
			case labelList || slices.Contains(promqlKeywords, name) || (next < len(expr) && expr[next] == '(') ||
				regexp.MustCompile(`^(by|without)\s*\(`).MatchString(expr[next:]):
				// a label name, a keyword, a function, or an aggregation (sum by (...) (...))
			default:
				s := promSelector{name: name}
				if next < len(expr) && expr[next] == '{' {
					matchers, end, err := parseMatchers(expr, next+1)
					if err != nil {
						return nil, err
					}
					s.matchers, i = matchers, end
				}
				out = append(out, s)
			}
		default:
			i++
		}
	}
	return out, nil
}

// parseMatchers reads the label matchers of a selector from expr[i:], just after its brace, and
// returns them and the index after the closing brace.
func parseMatchers(expr string, i int) ([]string, int, error) {
	var out []string
	matcher := regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,?)`)
	for {
		rest := expr[i:]
		if t := strings.TrimLeft(rest, " \t\n"); strings.HasPrefix(t, "}") {
			return out, i + len(rest) - len(t) + 1, nil
		}
		m := matcher.FindStringSubmatchIndex(rest)
		if m == nil {
			return nil, 0, fmt.Errorf("cannot read the label matchers at %q", rest)
		}
		value, err := strconv.Unquote(`"` + rest[m[6]:m[7]] + `"`)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, rest[m[2]:m[3]]+rest[m[4]:m[5]]+strconv.Quote(value))
		i += m[1]
		if m[8] == m[9] { // no comma: the brace must follow
			t := strings.TrimLeft(expr[i:], " \t\n")
			if !strings.HasPrefix(t, "}") {
				return nil, 0, fmt.Errorf("cannot read the label matchers at %q", expr[i:])
			}
			return out, i + len(expr[i:]) - len(t) + 1, nil
		}
	}
}

// TestDashboardLintRules: each rule finds what it is there to find.
func TestDashboardLintRules(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum(rate(atlas_backup_exporter_api_requests_total{job=~"$job",instance=~"$instance"}[$__rate_interval]))`:                     nil,
		`sum(rate(atlas_backup_exporter_api_requests_total{job=~"$job",instance=~"$instance"}[5m]))`:                                   {"target-rate-interval-rule"},
		`max by (instance) (atlas_backup_up{instance=~"$instance"})`:                                                                   {"target-job-rule"},
		`count(atlas_backup_up{job=~"$job"} == 0) or vector(0)`:                                                                        {"target-instance-rule"},
		`atlas_backup:snapshot_max_age_seconds{project=~"a"}`:                                                                          {"target-job-rule"},
		`atlas_backup:snapshot_max_age_seconds and on (cluster) atlas_backup_collect_success{job=~"$job",instance=~"$instance"}`:       nil,
		`time() - max without (instance, pod) (atlas_backup_collect_timestamp_seconds{job=~"$job",instance=~"$instance",kind="a,b}"})`: nil,
		`atlas_backup_up{job=~"$job",instance="$instance"}`:                                                                            {"target-instance-rule"},
		`atlas_backup_up{job=~"$job",instance=~"$instance"} unless atlas_backup_endpoint_sunset`:                                       {"target-job-rule", "target-instance-rule"},
	} {
		var got []string
		for _, p := range targetProblems(expr) {
			got = append(got, p[0])
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: rules %q, want %q", expr, got, want)
		}
	}
	var d lintDashboard
	d.Editable = true
	d.Panels = []lintPanel{{ID: 1, Type: "timeseries", Title: "t"}}
	got := strings.Join(lintProblems(d), "\n")
	for _, rule := range []string{"uneditable-dashboard", "template-datasource-rule", "template-job-rule", "template-instance-rule",
		"panel-title-description-rule", "panel-datasource-rule", "panel-units-rule", "panel-no-targets-rule", "import"} {
		if !strings.Contains(got, rule+":") {
			t.Errorf("an empty dashboard breaks no %s:\n%s", rule, got)
		}
	}
}
