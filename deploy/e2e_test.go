package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestEndToEndUnderPrometheus runs the exporter against the fake Atlas and, side by side, every
// Prometheus release the tests know with the shipped rules (their `for` durations cut to 2s), and
// checks the series, exactly which alerts fire, that every rule and dashboard query evaluates.
func TestEndToEndUnderPrometheus(t *testing.T) {
	releases := testenv.Prometheuses(t)
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel()
	// One project of every kind: flex-02's newest snapshot failed, serverless-04 is four days
	// behind, dedicated-06 had a fallback snapshot, tenant-03 is also configured through the
	// sunset tenant endpoint, disabled-08 has backup off, legacy-05 has legacy backup (configured
	// as the demo does: backed up, not AtlasBackupDisabled), m0-07 is free.
	// Atlas's headers say the tenant and serverless snapshot endpoints are past their sunset,
	// and the serverless instance listing has 30 days left (whatever today's date).
	// Beyond snapshots: dedicated-06 has a restore that failed 3 hours ago, dedicated-01 an
	// export that failed 2 hours ago and a copy region (EU_WEST_1) half a day behind, and the
	// project's Backup Compliance Policy is removed during the test, two snapshots of
	// dedicated-01 are deleted and the retention of one of dedicated-06 cut.
	est := atlastest.Generate(atlastest.Spec{Seed: 11, Projects: 1, ClustersPerProject: 8, SnapshotsPerCluster: 12})
	fake := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "e2e", ClientSecret: "e2e-secret",
		Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}, Retirements: listingSunsetIn30Days()})
	t.Cleanup(fake.Close)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yml")
	writeFile(t, cfg, fmt.Sprintf(`atlas:
  base_url: %s
  service_account: {client_id: e2e, client_secret: e2e-secret}
min_refresh_interval: 2s
# The compliance policy is read with discovery.
discovery_interval: 0s
projects:
  - discover_all_projects: true
  - name: project-001
    clusters: [tenant-03]
    kinds: [tenant]
  - name: project-001
    clusters: [legacy-05]
    kinds: [legacy]
`, fake.URL))
	exp := startExporter(t, "--config.file="+cfg)

	proms := startPrometheuses(t, dir, releases, exp.url)
	for _, p := range proms {
		query := func(q string) []float64 { return queryValues(p.api, q) }
		waitFor(t, 60*time.Second, "Prometheus "+p.version+" to scrape the exporter", func() bool { v := query("atlas_backup_up"); return len(v) == 1 && v[0] == 1 })
		waitFor(t, 30*time.Second, "the recording rules", func() bool { return len(query("atlas_backup:restore_window_min_seconds")) > 0 })

		for q, want := range map[string][]float64{
			`atlas_backup_last_snapshot_status{cluster="flex-02",status="failed"}`:                               {1},
			`count(atlas_backup_collect_success == 1)`:                                                           {6},
			`atlas_backup_endpoint_sunset{cluster="tenant-03",kind="tenant"}`:                                    {1},
			`min(atlas_backup_exporter_api_sunset_timestamp_seconds)`:                                            {1769040000},
			`atlas_backup_snapshots{cluster="dedicated-01",status="completed"}`:                                  {12},
			`atlas_backup_cluster_backup_enabled{cluster="m0-07"}`:                                               {0},
			`atlas_backup_cluster_backup_enabled{cluster="legacy-05"}`:                                           {1},
			`atlas_backup:snapshot_max_age_seconds{cluster="serverless-04"}`:                                     {8 * 3600},
			`atlas_backup:snapshot_max_age_seconds{cluster="dedicated-01"}`:                                      {6*3600 + 2*3600},
			`atlas_backup:last_completed_snapshot_age_seconds{cluster="serverless-04"} > 5*86400`:                {},
			`atlas_backup:last_completed_snapshot_age_seconds{cluster="serverless-04"} > 3*86400`:                nil,
			`atlas_backup:copy_max_age_seconds{cluster="dedicated-01",region="US_WEST_2"}`:                       {8 * 3600},
			`atlas_backup:copy_max_age_seconds{cluster="dedicated-06",region="US_WEST_2"}`:                       {26 * 3600},
			`atlas_backup_restore_jobs{cluster="dedicated-01",delivery_type="point_in_time",status="completed"}`: {1},
			`atlas_backup_export_jobs{cluster="dedicated-01",state="successful"}`:                                {1},
			`atlas_backup_schedule_restore_window_seconds{cluster="dedicated-01"}`:                               {2 * 86400},
		} {
			got := query(q)
			if want == nil {
				if len(got) != 1 {
					t.Errorf("Prometheus %s: %s: got %v, want one sample", p.version, q, got)
				}
				continue
			}
			if fmt.Sprint(got) != fmt.Sprint(want) && !(len(want) == 0 && len(got) == 0) {
				t.Errorf("Prometheus %s: %s = %v, want %v", p.version, q, got, want)
			}
		}
	}

	// The policy in force was seen, and the counters of early deletions at 0; now the policy
	// goes, two snapshots of dedicated-01 (not its newest) are deleted and the retention of one
	// of dedicated-06 is cut to two hours.
	for _, p := range proms {
		waitFor(t, 30*time.Second, "the compliance policy in Prometheus "+p.version, func() bool {
			v := queryValues(p.api, `atlas_backup_compliance_policy_enabled{project="project-001"}`)
			return len(v) == 1 && v[0] == 1
		})
		waitFor(t, 30*time.Second, "the early deletion counters in Prometheus "+p.version, func() bool {
			v := queryValues(p.api, `sum(atlas_backup_snapshots_deleted_early_total{cluster=~"dedicated-01|dedicated-06"} + atlas_backup_snapshots_expiry_shortened_total)`)
			return len(v) == 1 && v[0] == 0
		})
	}
	fake.Update(func(e *atlastest.Estate) {
		p := e.Projects[0]
		p.Compliance = nil
		c := p.Cluster("dedicated-01")
		c.DeleteSnapshots(c.Snapshots[1].ID, c.Snapshots[2].ID)
		c = p.Cluster("dedicated-06")
		c.SetExpiry(c.Snapshots[3].ID, time.Now().Add(2*time.Hour))
	})

	want := []string{
		"alertname=AtlasBackupAPIVersionSunsetPassed,operation=listGroupClusterBackupTenantSnapshots,severity=critical,version=2023-01-01",
		"alertname=AtlasBackupAPIVersionSunsetPassed,operation=listGroupServerlessBackupSnapshots,severity=critical,version=2023-01-01",
		"alertname=AtlasBackupAPIVersionSunsetSoon,operation=listGroupServerlessInstances,severity=warning,version=2023-01-01",
		"alertname=AtlasBackupCompliancePolicyInactive,project=project-001,project_id=5f0000000000000000000001,severity=critical",
		"alertname=AtlasBackupCopyRegionBehind,cloud_provider=AWS,cluster=dedicated-01,kind=cloud,project=project-001,project_id=5f0000000000000000000001,region=EU_WEST_1,severity=warning",
		"alertname=AtlasBackupDisabled,cluster=disabled-08,project=project-001,project_id=5f0000000000000000000001,severity=info",
		"alertname=AtlasBackupEndpointDeprecated,cluster=legacy-05,kind=legacy,project=project-001,project_id=5f0000000000000000000001,severity=info",
		"alertname=AtlasBackupEndpointDeprecated,cluster=serverless-04,kind=serverless,project=project-001,project_id=5f0000000000000000000001,severity=info,sunset_date=2026-01-22",
		"alertname=AtlasBackupEndpointDeprecated,cluster=tenant-03,kind=tenant,project=project-001,project_id=5f0000000000000000000001,severity=info,sunset_date=2026-01-22",
		"alertname=AtlasBackupEndpointSunset,cluster=tenant-03,kind=tenant,project=project-001,project_id=5f0000000000000000000001,severity=warning",
		"alertname=AtlasBackupExportFailed,cluster=dedicated-01,kind=cloud,project=project-001,project_id=5f0000000000000000000001,severity=warning",
		"alertname=AtlasBackupFallbackSnapshot,cluster=dedicated-06,kind=cloud,project=project-001,project_id=5f0000000000000000000001,severity=warning",
		"alertname=AtlasBackupRestoreFailed,cluster=dedicated-06,kind=cloud,project=project-001,project_id=5f0000000000000000000001,severity=warning",
		"alertname=AtlasBackupSnapshotExpiryShortened,cause=unexplained,cluster=dedicated-06,kind=cloud,project=project-001,project_id=5f0000000000000000000001,severity=warning",
		"alertname=AtlasBackupSnapshotFailed,cluster=flex-02,kind=flex,project=project-001,project_id=5f0000000000000000000001,severity=critical,status=failed",
		"alertname=AtlasBackupSnapshotTooOld,cluster=serverless-04,kind=serverless,project=project-001,project_id=5f0000000000000000000001,severity=critical",
		"alertname=AtlasBackupSnapshotsDeletedEarly,cause=unexplained,cluster=dedicated-01,kind=cloud,project=project-001,project_id=5f0000000000000000000001,severity=critical",
	}
	series := "cause=unexplained,cluster=%s,job=atlas_backup,kind=cloud,project=project-001,project_id=5f0000000000000000000001 %d"
	for _, p := range proms {
		expectAlerts(t, p, want)
		expectRulesEvaluated(t, p)
		checkDashboard(t, p, "")
		expectPanel(t, p, "Deleted early and expiry shortened per cluster", fmt.Sprintf(series, "dedicated-01", 2), fmt.Sprintf(series, "dedicated-06", 1))
	}
}

// listingSunsetIn30Days is Atlas's retirement headers, with the serverless instance listing's
// sunset 30 days away whatever today's date, so that the alerts the end-to-end tests expect do
// not change with the calendar.
func listingSunsetIn30Days() map[atlastest.OpVersion]atlastest.Retirement {
	r := atlastest.DefaultRetirements()
	listing := atlastest.OpVersion{Operation: "listGroupServerlessInstances", Version: "2023-01-01"}
	r[listing] = atlastest.Retirement{Deprecation: r[listing].Deprecation, Sunset: atlastest.AtlasDate(time.Now().AddDate(0, 0, 30))}
	return r
}

// promServer is a Prometheus the test runs.
type promServer struct {
	version string
	url     string // http://host:port/
	api     string // its HTTP API: url + "api/v1/"
}

// startPrometheuses runs each Prometheus release in its own directory under dir with the shipped
// rules (their `for` durations cut to 2s), scraping the exporters at urls every second as one
// job.
func startPrometheuses(t *testing.T, dir string, releases []testenv.Prometheus, urls ...string) []*promServer {
	t.Helper()
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	targets := make([]string, len(urls))
	for i, u := range urls {
		targets[i] = fmt.Sprintf("%q", strings.TrimPrefix(u, "http://"))
	}
	var servers []*promServer
	for _, r := range releases {
		pdir := filepath.Join(dir, "prometheus-"+r.Version)
		if err := os.Mkdir(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(pdir, "alerts.yml"), regexp.MustCompile(`(?m)^(\s+for:) \S+$`).ReplaceAllString(string(rules), "$1 2s"))
		writeFile(t, filepath.Join(pdir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: atlas_backup
    static_configs:
      - targets: [%s]
`, strings.Join(targets, ", ")))
		addr := testenv.FreeAddr(t)
		startProcess(t, r.Prometheus, "--config.file="+filepath.Join(pdir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(pdir, "data"),
			"--web.listen-address="+addr)
		servers = append(servers, &promServer{version: r.Version, url: "http://" + addr + "/", api: "http://" + addr + "/api/v1/"})
	}
	return servers
}

// queryValues returns the values of an instant query, or nil while Prometheus is not up.
func queryValues(api, q string) []float64 {
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	body := httpGetQuiet(api + "query?query=" + url.QueryEscape(q))
	if json.Unmarshal([]byte(body), &r) != nil {
		return nil
	}
	var out []float64
	for _, s := range r.Data.Result {
		var f float64
		fmt.Sscan(s.Value[1].(string), &f)
		out = append(out, f)
	}
	return out
}

// expectAlerts waits until at least as many alerts as want fire, gives anything unexpected a few
// more evaluations to show up, then checks that exactly want fires, each once (labels without
// job, sorted), none naming the instance or pod it was scraped from.
func expectAlerts(t *testing.T, p *promServer, want []string) {
	t.Helper()
	alerts := func() []alert {
		var r struct {
			Data struct {
				Alerts []alert `json:"alerts"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(httpGetQuiet(p.api+"alerts")), &r) != nil {
			return nil
		}
		return r.Data.Alerts
	}
	waitFor(t, 60*time.Second, "the expected alerts to fire in Prometheus "+p.version, func() bool {
		n := 0
		for _, a := range alerts() {
			if a.State == "firing" {
				n++
			}
		}
		return n >= len(want)
	})
	time.Sleep(3 * time.Second)
	// A failed scrape (on a loaded machine one can outlast the 1 s scrape timeout) makes its
	// target's series stale, and their alerts start their `for` again: the alerts are read
	// until exactly want fires, for up to 30 s, and compared as they are then.
	var got, notFiring []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		got, notFiring = nil, nil
		for _, a := range alerts() {
			delete(a.Labels, "job")
			got = append(got, a.key())
			if a.State != "firing" {
				notFiring = append(notFiring, a.State+": "+a.key())
			}
		}
		sort.Strings(got)
		if len(notFiring) == 0 && strings.Join(got, "\n") == strings.Join(want, "\n") || time.Now().After(deadline) {
			break
		}
	}
	for _, a := range notFiring {
		t.Errorf("Prometheus %s: alert still %s", p.version, a)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Prometheus %s: alerts\n got:\n%s\nwant:\n%s", p.version, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var ruleMetric = regexp.MustCompile(`(?m)^prometheus_rule_(evaluations|evaluation_failures)_total\{[^}]*\} (\S+)$`)

// expectRulesEvaluated checks Prometheus's own counters: the rules were evaluated, never once
// failing.
func expectRulesEvaluated(t *testing.T, p *promServer) {
	t.Helper()
	totals := map[string]float64{}
	for _, m := range ruleMetric.FindAllStringSubmatch(httpGetQuiet(p.url+"metrics"), -1) {
		var v float64
		fmt.Sscan(m[2], &v)
		totals[m[1]] += v
	}
	t.Logf("Prometheus %s: %v rule evaluations, %v failed", p.version, totals["evaluations"], totals["evaluation_failures"])
	if totals["evaluations"] == 0 || totals["evaluation_failures"] != 0 {
		t.Errorf("Prometheus %s: want rule evaluations and no failures", p.version)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// httpGetQuiet returns the body, or "" while the server is not up yet.
func httpGetQuiet(u string) string {
	resp, err := httpClient.Get(u)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = ioCopy(b, resp.Body)
	return b.String()
}
