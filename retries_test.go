package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// TestRetriesZeroForOperationsInUse: atlas_backup_exporter_api_retries_total starts at zero
// for the operations the configuration can send, and for no other: every operation the fake
// received during a refresh is among them (a paged listing with listing_shifted too), and the
// single-snapshot reads, which no entry asks for, are not.
func TestRetriesZeroForOperationsInUse(t *testing.T) {
	t.Parallel()
	srv := newFakeAtlas(t, atlastest.Options{})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	writeConfig(t, cfgFile, srv.URL, `  - discover_all_projects: true
  - name: project-001
    clusters: [tenant-03]
    kinds: [tenant]
  - name: project-001
    clusters: [legacy-05]
    kinds: [legacy]
`)
	e := startExporter(t, "--config.file="+cfgFile, "--log.level=debug")
	if e.waitLog(t, `msg="refresh ended"`, 1) == 0 {
		t.Fatal("the first refresh did not end")
	}
	_, body := e.get(t, "/metrics")
	series := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?m)^atlas_backup_exporter_api_retries_total\{operation="([^"]+)",reason="([^"]+)"\} 0$`).FindAllStringSubmatch(body, -1) {
		series[m[1]] = append(series[m[1]], m[2])
	}
	raw, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(cfgFile, raw, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, op := range atlas.OperationsFor(cfg.Reads()) {
		want = append(want, op.Name)
		if n, shifts := len(series[op.Name]), slices.Contains(series[op.Name], atlas.RetryListingShifted); n == 0 || shifts != op.Paged {
			t.Errorf("%s: zero retries for %q", op.Name, series[op.Name])
		}
	}
	var got []string
	for op := range series {
		got = append(got, op)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("zero retries for\n%q\nwant\n%q", got, want)
	}
	for op := range srv.Counts() {
		if op != "oauthToken" && !slices.Contains(got, op) {
			t.Errorf("the fake received %s, which has no zero retries", op)
		}
	}
	if slices.Contains(got, "getGroupClusterBackupSnapshot") || len(got) >= len(atlas.Operations()) {
		t.Errorf("zero retries for %d operations of %d: %q", len(got), len(atlas.Operations()), got)
	}
}
