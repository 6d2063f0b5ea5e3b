package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
)

var update = flag.Bool("update", false, "rewrite docs/metrics.md from the families")

const metricsDoc = "docs/metrics.md"

// TestMetricsReference keeps docs/metrics.md what the exporter serves: the collector's families
// from their descriptors (collector.Families), and the exporter's own metrics as --demo serves
// them (name, type, help, the labels of their series), the Go and process collectors' aside.
// `go test . -run TestMetricsReference -update` writes it again.
func TestMetricsReference(t *testing.T) {
	e := startExporter(t, "--demo")
	_, body := e.get(t, "/metrics")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	own, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%.500s", err, body)
	}
	got := metricsReference(collector.Families(), own)
	if *update {
		if err := os.WriteFile(metricsDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date; regenerate it with: go test . -run TestMetricsReference -update\n%s", metricsDoc, firstDifference(string(want), got))
	}
}

// firstDifference shows the first line where want and got differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  in the file: %s\n  generated:   %s", i+1, wl, gl)
		}
	}
	return ""
}

// scope is a section of the reference: the collector's families whose labels begin with
// common (or, for the snapshots, hold it), those labels said once for the section.
type scope struct {
	title, intro string
	common       []string
}

var scopes = []scope{
	{"Per snapshot", "Labels `project_id`, `project`, `cluster`, `kind` and `snapshot_id`, then those given. Only with `snapshot_metrics: true` (the default).",
		[]string{"project_id", "project", "cluster", "kind", "snapshot_id"}},
	{"Per cluster", "Per configured or discovered target: labels `project_id`, `project` (its name), `cluster` and `kind` (`cloud`, `flex`, `serverless`, `tenant`, `legacy`: the snapshot API the data was read from), then those given.",
		[]string{"project_id", "project", "cluster", "kind"}},
	{"Per discovered cluster", "Per cluster discovery found, whatever its backup: labels `project_id`, `project` and `cluster`, then those given.",
		[]string{"project_id", "project", "cluster"}},
	{"Per project", "Labels `project_id` and `project`, then those given.", []string{"project_id", "project"}},
	{"Per credential set", "Only when the configuration names credential sets: label `credentials` (the set's name, `default` for the `atlas` section's), then those given.", []string{"credentials"}},
	{"The exporter's view", "What the last refreshes found, rendered with the data.", nil},
}

func (s scope) holds(labels []string) bool {
	if s.common == nil {
		return true
	}
	if slices.Contains(s.common, "snapshot_id") {
		return slices.Contains(labels, "snapshot_id")
	}
	return len(labels) >= len(s.common) && slices.Equal(labels[:len(s.common)], s.common)
}

// metricsReference is docs/metrics.md: the collector's families by scope, then the exporter's
// own metrics among own (those that are not the collector's, nor the Go and process
// collectors').
func metricsReference(fams []collector.FamilyDoc, own map[string]*dto.MetricFamily) string {
	var b strings.Builder
	b.WriteString(`# Metrics reference

Every family atlas_backup_exporter serves, with its type, labels and help. This file is
generated: ` + "`go test . -run TestMetricsReference -update`" + ` writes it from the collector's family
descriptors and the exporter's own metrics as ` + "`--demo`" + ` serves them, and the same test without
` + "`-update`" + ` fails while it is out of date. The [README](../README.md#metrics) groups them by
topic; [operating.md](operating.md#reading-the-families) says how some are derived.

`)
	placed := map[string]bool{}
	for _, s := range scopes {
		var rows []string
		for _, f := range fams {
			if placed[f.Name] || !s.holds(f.Labels) {
				continue
			}
			placed[f.Name] = true
			var extra []string
			for _, l := range f.Labels {
				if !slices.Contains(s.common, l) {
					extra = append(extra, l)
				}
			}
			rows = append(rows, row(f.Name, f.Type, extra, f.Help))
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n%s\n\n| metric | type | labels | help |\n| --- | --- | --- | --- |\n%s\n", s.title, s.intro, strings.Join(rows, ""))
	}
	var names []string
	for name := range own {
		if !placed[name] && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	b.WriteString("## The exporter's own metrics\n\nGathered at each scrape and written after the data. The Go and process collectors' `go_*` and\n`process_*` families follow them, as in every exporter built with client_golang.\n\n| metric | type | labels | help |\n| --- | --- | --- | --- |\n")
	for _, name := range names {
		mf := own[name]
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		b.WriteString(row(name, strings.ToLower(mf.GetType().String()), labels, mf.GetHelp()))
	}
	return b.String()
}

func row(name, typ string, labels []string, help string) string {
	ls := ""
	if len(labels) > 0 {
		ls = "`" + strings.Join(labels, "`, `") + "`"
	}
	return fmt.Sprintf("| `%s` | %s | %s | %s |\n", name, typ, ls, strings.ReplaceAll(help, "|", `\|`))
}
