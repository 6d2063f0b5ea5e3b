package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestRetentionDocRule runs the example rule of docs/retention.md (a team's own minimum:
// monthly snapshots kept 12 months) under promtool, from two replicas of the exporter: it fires
// for a cluster keeping them a month and for one with no monthly item, once each, and not for
// one keeping them a year, nor for a cluster of another project.
func TestRetentionDocRule(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/retention.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(groups:.*?)```").FindSubmatch(raw)
	if m == nil {
		t.Fatal("docs/retention.md has no rule group")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "team.yml"), string(m[1]))
	var input strings.Builder
	for _, s := range []struct{ series, value string }{
		{`atlas_backup_schedule_retention_seconds{project_id="p1",project="prod",cluster="cut",kind="cloud",frequency="monthly",interval="40"}`, "2629746"},
		{`atlas_backup_schedule_retention_seconds{project_id="p1",project="prod",cluster="cut",kind="cloud",frequency="daily",interval="1"}`, "604800"},
		{`atlas_backup_schedule_retention_seconds{project_id="p1",project="prod",cluster="kept",kind="cloud",frequency="monthly",interval="40"}`, "31556952"},
		{`atlas_backup_schedule_retention_seconds{project_id="p1",project="prod",cluster="none",kind="cloud",frequency="daily",interval="1"}`, "604800"},
		{`atlas_backup_schedule_retention_seconds{project_id="p2",project="dev",cluster="dev",kind="cloud",frequency="daily",interval="1"}`, "86400"},
	} {
		for _, r := range []string{"a", "b"} {
			input.WriteString("      - series: '" + replicaSeries(s.series, r) + "'\n        values: '" + s.value + "x30'\n")
		}
	}
	alert := func(cluster, kept string) string {
		return `          - exp_labels: {severity: warning, project_id: p1, project: prod, cluster: ` + cluster + `}
            exp_annotations:
              summary: "prod/` + cluster + ` keeps monthly snapshots ` + kept + `, less than 12 months"
`
	}
	writeFile(t, filepath.Join(dir, "team_test.yml"), `rule_files: [team.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
`+input.String()+`    alert_rule_test:
      - eval_time: 20m
        alertname: MonthlySnapshotsKeptLessThanAYear
        exp_alerts:
`+alert("cut", "30d 10h 29m 6s")+alert("none", "0s"))
	for _, p := range testenv.Prometheuses(t) {
		run(t, p.Promtool, "check", "rules", filepath.Join(dir, "team.yml"))
		if out := run(t, p.Promtool, "test", "rules", filepath.Join(dir, "team_test.yml")); !strings.Contains(out, "SUCCESS") {
			t.Errorf("Prometheus %s: promtool test rules:\n%s", p.Version, out)
		}
	}
}
