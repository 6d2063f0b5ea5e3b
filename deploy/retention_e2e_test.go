package deploy

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestRetentionBelowPolicyUnderPrometheus runs two replicas of one exporter (an HA pair)
// scraped by every Prometheus release the tests know with the shipped rules. The project's
// Backup Compliance Policy requires daily snapshots kept 7 days and monthly ones 12 months,
// which the cluster's policy meets: nothing fires. Then someone cuts the monthly tier to one
// month, and a monthly snapshot kept one month arrives: the exporter reads the schedule again at
// once (the snapshot's retention disagrees with the cached policy, whose next snapshot is hours
// away), and AtlasBackupRetentionBelowPolicy fires once, for the monthly tier.
func TestRetentionBelowPolicyUnderPrometheus(t *testing.T) {
	releases := testenv.Prometheuses(t)
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel()
	// One healthy Cloud Backup replica set (six snapshots six hours apart: a restore window
	// above a day), without copies, and no retirement headers, so that only retention fires.
	est := atlastest.Generate(atlastest.Spec{Seed: 11, Projects: 1, ClustersPerProject: 1, SnapshotsPerCluster: 6, Kinds: []atlastest.ClusterKind{atlastest.Dedicated}})
	p := est.Projects[0]
	c := p.Cluster("dedicated-01")
	c.Copies = nil
	for i := range c.Snapshots {
		c.Snapshots[i].CopyRegions = nil
	}
	p.Compliance.Items = append(p.Compliance.Items, atlastest.PolicyItem{Frequency: "monthly", Interval: 40, RetentionUnit: "months", RetentionValue: 12})
	fake := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "e2e", ClientSecret: "e2e-secret",
		Retirements: map[atlastest.OpVersion]atlastest.Retirement{}})
	t.Cleanup(fake.Close)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yml")
	writeFile(t, cfg, fmt.Sprintf(`atlas:
  base_url: %s
  service_account: {client_id: e2e, client_secret: e2e-secret}
min_refresh_interval: 2s
restore_jobs: false
export_jobs: false
projects:
  - discover_all_projects: true
`, fake.URL))
	a, b := startExporter(t, "--config.file="+cfg), startExporter(t, "--config.file="+cfg)
	proms := startPrometheuses(t, dir, releases, a.url, b.url)
	for _, p := range proms {
		waitFor(t, 60*time.Second, "Prometheus "+p.version+" to record the retention of both replicas' data", func() bool {
			return fmt.Sprint(queryValues(p.api, `count(atlas_backup_schedule_retention_seconds{frequency="monthly"} == 31556952)`)) == "[2]" &&
				fmt.Sprint(queryValues(p.api, `atlas_backup:compliance_policy_retention_seconds{frequency="monthly"}`)) == "[3.1556952e+07]"
		})
		expectAlerts(t, p, nil)
	}

	fake.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		for i := range c.Policy {
			if c.Policy[i].Frequency == "monthly" {
				c.Policy[i].RetentionValue = 1
			}
		}
		created := time.Now().UTC().Truncate(time.Second)
		c.Snapshots = append([]atlastest.Snap{{ID: "6a00000000000000000000fd", Status: "completed", CreatedAt: created,
			ExpiresAt: created.AddDate(0, 1, 0), Size: 1 << 30, Type: "scheduled", Frequency: "monthly", Version: "8.0.4"}}, c.Snapshots...)
	})
	want := []string{
		"alertname=AtlasBackupRetentionBelowPolicy,cluster=dedicated-01,frequency=monthly,kind=cloud,project=project-001,project_id=5f0000000000000000000001,severity=critical",
	}
	for _, p := range proms {
		expectAlerts(t, p, want)
		if got := fmt.Sprint(queryValues(p.api, `atlas_backup:schedule_retention_seconds{frequency="monthly"}`)); got != "[2.629746e+06]" {
			t.Errorf("Prometheus %s: the recorded monthly retention is %s, want one month", p.version, got)
		}
		expectRulesEvaluated(t, p)
		checkDashboard(t, p, "")
	}
}
