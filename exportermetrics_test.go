package main

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestExporterMetrics: /metrics carries the handler's own metrics as node_exporter's does
// (promhttp's, with the scrapes so far), and the Go and process collectors';
// --web.disable-exporter-metrics leaves those three out, and keeps the exporter's
// atlas_backup_exporter_* and the data.
func TestExporterMetrics(t *testing.T) {
	t.Parallel()
	srv := newFakeAtlas(t, atlastest.Options{})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	writeConfig(t, cfgFile, srv.URL, "  - id: 5f0000000000000000000001\n    clusters: [dedicated-01]\n")
	families := func(body string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+)`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	own := func(name string) bool {
		return strings.HasPrefix(name, "promhttp_") || strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
	}

	e := startExporter(t, "--config.file="+cfgFile)
	e.get(t, "/metrics")
	_, body := e.get(t, "/metrics")
	for _, want := range []string{
		`promhttp_metric_handler_requests_total{code="200"} 1` + "\n",
		`promhttp_metric_handler_requests_total{code="503"} 0` + "\n",
		"promhttp_metric_handler_requests_in_flight 1\n",
		`promhttp_metric_handler_errors_total{cause="encoding"} 0` + "\n",
		`promhttp_metric_handler_errors_total{cause="gathering"} 0` + "\n",
		"# TYPE go_goroutines gauge\n", "# TYPE process_cpu_seconds_total counter\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !slices.ContainsFunc(families(body), own) {
		t.Fatal("no promhttp_, go_ or process_ family")
	}

	e = startExporter(t, "--config.file="+cfgFile, "--web.disable-exporter-metrics")
	_, body = e.get(t, "/metrics")
	without := families(body)
	if i := slices.IndexFunc(without, own); i >= 0 {
		t.Errorf("with --web.disable-exporter-metrics, /metrics has %s", without[i])
	}
	for _, want := range []string{"atlas_backup_exporter_build_info", "atlas_backup_exporter_api_requests_total", "atlas_backup_collect_success"} {
		if !slices.Contains(without, want) {
			t.Errorf("with --web.disable-exporter-metrics, /metrics lacks %s", want)
		}
	}
}
