package deploy

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestTwoOrganisationsUnderPrometheus runs two replicas of one exporter (an HA pair) reading two
// organisations, each with its own credential set, scraped by every Prometheus release the
// tests know with the shipped rules. Both sets are up and every project is shown with its
// organisation; then eu-unit's credentials are revoked: its credentials_up goes to 0 and
// AtlasBackupCredentialsDown fires once, for it alone (with the collection of its cluster
// failing), while billing's series stay fresh and AtlasBackupAPIDown stays silent.
func TestTwoOrganisationsUnderPrometheus(t *testing.T) {
	releases := testenv.Prometheuses(t)
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel()
	eu := atlastest.OrgID(1)
	// One healthy Cloud Backup cluster per project (six snapshots six hours apart: a restore
	// window above a day), and no retirement headers, so that only what the revocation causes
	// fires.
	est := atlastest.Generate(atlastest.Spec{Seed: 11, Projects: 2, ClustersPerProject: 1, SnapshotsPerCluster: 6, Kinds: []atlastest.ClusterKind{atlastest.Dedicated}, Orgs: 2})
	fake := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "billing", ClientSecret: "billing-secret", OrgName: "billing",
		Orgs:        []atlastest.Org{{ID: eu, Name: "eu-unit", ClientID: "eu", ClientSecret: "eu-secret"}},
		Retirements: map[atlastest.OpVersion]atlastest.Retirement{}})
	t.Cleanup(fake.Close)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yml")
	writeFile(t, cfg, fmt.Sprintf(`atlas:
  base_url: %s
credentials:
  billing:
    service_account: {client_id: billing, client_secret: billing-secret}
  eu-unit:
    service_account: {client_id: eu, client_secret: eu-secret}
min_refresh_interval: 2s
backup_schedules: false
restore_jobs: false
export_jobs: false
compliance_policy: false
projects:
  - discover_all_projects: true
    credentials: billing
  - discover_all_projects: true
    credentials: eu-unit
`, fake.URL))
	a, b := startExporter(t, "--config.file="+cfg), startExporter(t, "--config.file="+cfg)
	proms := startPrometheuses(t, dir, releases, a.url, b.url)
	for _, p := range proms {
		query := func(q string) []float64 { return queryValues(p.api, q) }
		waitFor(t, 60*time.Second, "Prometheus "+p.version+" to scrape both sets", func() bool {
			return fmt.Sprint(query(`count by (credentials) (atlas_backup_credentials_up == 1)`)) == "[2 2]"
		})
		for q, want := range map[string]string{
			`count(atlas_backup_project_info{org_id="5e0000000000000000000001",org_name="billing",credentials="billing",project="project-001"})`: "[2]",
			`count(atlas_backup_project_info{org_id="5e0000000000000000000002",org_name="eu-unit",credentials="eu-unit",project="project-002"})`: "[2]",
			`count(atlas_backup_collect_success == 1)`: "[4]",
			`atlas_backup_credentials_overlap`:         "[]",
		} {
			if got := fmt.Sprint(query(q)); got != want {
				t.Errorf("Prometheus %s: %s = %s, want %s", p.version, q, got, want)
			}
		}
	}

	fake.SetOrgCredentials(eu, "", "", "", "")
	fresh := func(p *promServer) float64 {
		v := queryValues(p.api, `min(atlas_backup_collect_timestamp_seconds{project="project-001"})`)
		if len(v) != 1 {
			return 0
		}
		return v[0]
	}
	for _, p := range proms {
		waitFor(t, 60*time.Second, "eu-unit's credentials_up 0 in Prometheus "+p.version, func() bool {
			return fmt.Sprint(queryValues(p.api, `max(atlas_backup_credentials_up{credentials="eu-unit"})`)) == "[0]"
		})
		// billing's data goes on being read after the revocation.
		before := fresh(p)
		waitFor(t, 60*time.Second, "billing's data read again in Prometheus "+p.version, func() bool { return fresh(p) > before })
		if got := fmt.Sprint(queryValues(p.api, `min(atlas_backup_credentials_up{credentials="billing"})`)); got != "[1]" {
			t.Errorf("Prometheus %s: billing's credentials_up %s after eu-unit's revocation", p.version, got)
		}
	}
	want := []string{
		"alertname=AtlasBackupCollectionFailing,cluster=dedicated-01,kind=cloud,project=project-002,project_id=5f0000000000000000000002,severity=warning",
		"alertname=AtlasBackupCredentialsDown,credentials=eu-unit,severity=critical",
		// A set whose credentials are refused resolves its entries again at each refresh (so
		// that another set may take over a project they share), and that listing fails too.
		"alertname=AtlasBackupDiscoveryFailing,project=project-002,project_id=5f0000000000000000000002,severity=warning",
	}
	for _, p := range proms {
		expectAlerts(t, p, want)
		expectRulesEvaluated(t, p)
		checkDashboard(t, p, "")
	}
}
