package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules keeps the package graph what ARCHITECTURE.md says: each package answers one
// question, and depends only on those below it, atlas <- config <- estate <- collector <-
// internal/handler <- main, Prometheus appearing in collector at the earliest, with one
// exception: config builds the connection to Atlas with github.com/prometheus/common/config, the
// HTTP client settings Prometheus users know, and may depend on what that package does. It reads
// what `go list` says each package depends on, directly or not (tests aside).
func TestImportRules(t *testing.T) {
	const module = "github.com/atlas-backup-exporter/atlas_backup_exporter"
	const clientSettings = "github.com/prometheus/common/config"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	settingsDeps, err := exec.Command("go", "list", "-deps", clientSettings).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	withSettings := map[string]bool{}
	for _, d := range strings.Fields(string(settingsDeps)) {
		withSettings[d] = true
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")] = f[1:]
	}
	// The layers, lowest first; a package is in the layer whose path it has or is below.
	layers := []string{"atlas", "config", "estate", "collector", "internal/handler"}
	layerOf := func(pkg string) int {
		for i, l := range layers {
			if pkg == l || strings.HasPrefix(pkg, l+"/") {
				return i
			}
		}
		return -1
	}
	// Prometheus starts at the collector, and no layer leans on test support.
	noPrometheus := map[string]bool{"atlas": true, "config": true, "estate": true}
	testOnly := []string{module + "/atlas/atlastest", module + "/internal/testenv"}
	checked := 0
	for pkg, ds := range deps {
		i := layerOf(pkg)
		if i < 0 || pkg == "atlas/atlastest" {
			continue // main, tools, test helpers, the fake
		}
		checked++
		for _, d := range ds {
			if rel, ours := strings.CutPrefix(d, module+"/"); ours && layerOf(rel) > i {
				t.Errorf("%s depends on %s, a layer above it", pkg, rel)
			}
			if noPrometheus[layers[i]] && strings.HasPrefix(d, "github.com/prometheus/") && !(i > 0 && withSettings[d]) {
				t.Errorf("%s depends on %s: Prometheus starts at the collector", pkg, d)
			}
			for _, helper := range testOnly {
				if d == helper || strings.HasPrefix(d, helper+"/") {
					t.Errorf("%s depends on %s, which is for tests", pkg, d)
				}
			}
		}
	}
	if checked < len(layers) {
		t.Errorf("checked %d packages, want at least one per layer (%v)", checked, layers)
	}
}
