package collector_test

import (
	"context"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares the exporter's whole exposition with a golden file.
func golden(t *testing.T, name string, e *env) {
	t.Helper()
	got := e.exposition(t)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s (run go test ./collector -update and review the diff):\n%s", path, testenv.FirstDiff(string(want), got))
	}
	testenv.CheckMetrics(t, got)
}

func TestGoldenEveryKind(t *testing.T) {
	e := newEnv(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}}, defaultSettings())
	e.refresh(t)
	golden(t, "estate.golden", e)
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if !e.engine.Ready() {
		t.Error("not ready after the first refresh")
	}
}

func TestSnapshotMetricsOff(t *testing.T) {
	s := defaultSettings()
	s.SnapshotMetrics = false
	e := newEnv(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}}, s)
	e.refresh(t)
	golden(t, "estate-no-snapshots.golden", e)
}

// everyMetricDescribed checks that every descriptor the collector declares appears in the
// golden estate, so no metric is defined and left untested.
func TestEveryDescribedMetricIsExposed(t *testing.T) {
	e := newEnv(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone, atlastest.EndpointServerlessList: atlastest.Gone}}, defaultSettings())
	e.refresh(t)
	got := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(e.exposition(t), -1) {
		got[m[1]] = true
	}
	maps.Copy(got, credentialSetFamilies(t))
	for _, name := range collector.FamilyNames() {
		if !got[name] {
			t.Errorf("%s is not exposed", name)
		}
	}
	ch := make(chan *prometheus.Desc, 100)
	e.coll.Describe(ch)
	close(ch)
	nameRe := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		name := nameRe.FindStringSubmatch(d.String())[1]
		if !got[name] {
			t.Errorf("%s is described but not exposed", name)
		}
	}
}

func TestCacheAndSharedRefresh(t *testing.T) {
	e := newEnv(t, atlastest.Options{Latency: 50 * time.Millisecond}, defaultSettings())
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.refresh(t)
		}()
	}
	wg.Wait()
	first := e.srv.Counts()
	// 1 token, 1 listGroups (for the id selector), 1 getGroupByName per distinct name (the three
	// project-002 selectors share one), 2 projects × 3 discovery listings and a compliance policy,
	// one listing per target, the backup schedule and export jobs of each Cloud Backup target, and
	// the restore jobs of each Cloud Backup and Flex target.
	snapshots := map[string]int{
		"listGroupClusterBackupSnapshots": 1, "listGroupClusterBackupSnapshotShardedClusters": 1,
		"listGroupFlexClusterBackupSnapshots": 2, "listGroupServerlessBackupSnapshots": 1,
		"listGroupClusterBackupTenantSnapshots": 1, "listGroupClusterSnapshots": 1,
	}
	discovery := map[string]int{"listGroups": 1, "getGroupByName": 2, "listGroupClusters": 2, "listGroupFlexClusters": 2,
		"listGroupServerlessInstances": 2, "getGroupBackupCompliancePolicy": 2}
	jobs := map[string]int{"listGroupClusterBackupRestoreJobs": 2, "listGroupFlexClusterBackupRestoreJobs": 2, "listGroupClusterBackupExports": 2}
	want := merge(snapshots, discovery, jobs, map[string]int{"oauthToken": 1, "getGroupClusterBackupSchedule": 2})
	if !equalCounts(first, want) {
		t.Errorf("10 concurrent scrapes sent\n%v\nwant\n%v", first, want)
	}
	e.clock.Advance(4 * time.Minute)
	e.refresh(t)
	if n := e.srv.Count(""); n != sum(first) {
		t.Errorf("a scrape within min_refresh_interval sent %d requests", n-sum(first))
	}
	// Steady state: the snapshot listings, and one all-projects cluster listing that finds no
	// new cluster. The token is still valid; the schedules are not due.
	e.srv.Reset()
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if got, want := e.srv.Counts(), merge(snapshots, map[string]int{"listClusterDetails": 1}); !equalCounts(got, want) {
		t.Errorf("refresh after min_refresh_interval sent\n%v\nwant\n%v", got, want)
	}
	// The jobs every jobs_interval.
	e.srv.Reset()
	e.clock.Advance(25 * time.Minute)
	e.refresh(t)
	if got, want := e.srv.Counts(), merge(snapshots, jobs, map[string]int{"listClusterDetails": 1}); !equalCounts(got, want) {
		t.Errorf("refresh after jobs_interval sent\n%v\nwant\n%v", got, want)
	}
	// A full discovery every discovery_interval, with the compliance policies; the jobs are due
	// again too.
	e.srv.Reset()
	e.clock.Advance(time.Hour)
	e.refresh(t)
	if got, want := e.srv.Counts(), merge(snapshots, discovery, jobs); !equalCounts(got, want) {
		t.Errorf("refresh after discovery_interval sent\n%v\nwant\n%v", got, want)
	}
	expectLines(t, e.exposition(t),
		`atlas_backup_exporter_last_refresh_requests{discovery="full"} 24`,
		`atlas_backup_exporter_last_refresh_requests{discovery="none"} 14`,
		"atlas_backup_exporter_discovery_timestamp_seconds 1.7951814e+09")
}

func TestFailingTargetKeepsLastGoodData(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Status: 500})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	out := e.exposition(t)
	expectLines(t, out,
		cloudOK,
		flexSuccess+" 0",
		// The failed target still shows the data fetched a minute earlier, and when.
		flexLastGood,
		"atlas_backup_collect_timestamp_seconds"+cloudLabels+" 1.79517606e+09",
		flexCount,
		`atlas_backup_up 1`)
	// The error is logged once, not on every refresh.
	for range 3 {
		e.clock.Advance(time.Minute)
		e.refresh(t)
	}
	if n := strings.Count(e.logs.String(), "HTTP 500"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, e.logs)
	}
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", nil)
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if !strings.Contains(e.logs.String(), `level=info msg="snapshot collection" project_id=5f0000000000000000000001 project=project-001 cluster=flex-02 kind=flex status=recovered`) {
		t.Errorf("recovery not logged:\n%s", e.logs)
	}
}

func TestDeletedClusterLosesItsSeries(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	if len(grep(e.exposition(t), `cluster="flex-02"`)) == 0 {
		t.Fatal("no flex-02 series to begin with")
	}
	// Deleted between discovery and the snapshot listing: Atlas answers 404 CLUSTER_NOT_FOUND.
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Status: 404, ErrorCode: "CLUSTER_NOT_FOUND"})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	// Discovery still lists it (cluster_info stays), but its snapshot series are gone.
	if lines := grep(e.exposition(t), `{cluster="flex-02",kind="flex",project=`); len(lines) != 0 {
		t.Errorf("ghost series after 404 CLUSTER_NOT_FOUND:\n%s", strings.Join(lines, "\n"))
	}
	// Gone from discovery too: every series of it goes.
	removeCluster(e, 0, "flex-02")
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if lines := grep(e.exposition(t), `cluster="flex-02"`); len(lines) != 0 {
		t.Errorf("ghost series after removal:\n%s", strings.Join(lines, "\n"))
	}
}

func TestDeadlineServesWhatArrived(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, estate.Settings{MinRefreshInterval: time.Minute, SnapshotMetrics: true, RefreshTimeout: 5 * time.Second, Projects: []config.Project{{ID: p1}}})
	e.refresh(t)
	hang := &atlastest.Fault{Hang: true}
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", hang)
	e.clock.Advance(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	e.engine.Refresh(ctx)
	out := e.exposition(t)
	// The hung target still shows its previous data and success; the others are fresh.
	expectLines(t, out,
		flexLastGood,
		"atlas_backup_collect_timestamp_seconds"+cloudLabels+" 1.79517606e+09",
		flexSuccess+" 1")
	// The refresh goes on in the background until the client's timeout ends the hung request.
	e.engine.Refresh(t.Context())
	if !strings.Contains(e.exposition(t), `atlas_backup_collect_success{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001"} 0`+"\n") {
		t.Error("the hung target is not reported as failed once its request timed out")
	}
}

func TestUpFollowsCredentials(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	expectLines(t, e.exposition(t), "atlas_backup_up 1")
	e.srv.SetCredentials("id", "revoked", "", "")
	e.clock.Advance(time.Minute)
	e.refresh(t)
	expectLines(t, e.exposition(t), "atlas_backup_up 0")
	// Discovery failed, so every target keeps its last data.
	if n := len(grep(e.exposition(t), "atlas_backup_collect_success{")); n != 5 {
		t.Errorf("%d targets exposed, want the 5 known before", n)
	}
	e.srv.SetCredentials("id", "secret", "", "")
	e.clock.Advance(time.Minute)
	e.refresh(t)
	expectLines(t, e.exposition(t), "atlas_backup_up 1")
}

func TestReconfigureDropsUnselectedTargets(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, estate.Settings{MinRefreshInterval: time.Hour, SnapshotMetrics: true, Projects: []config.Project{{ID: p1}}})
	e.refresh(t)
	e.engine.Reconfigure(estate.Sources{"": atlas.NewFetcher(e.client)}, estate.Settings{MinRefreshInterval: time.Hour, SnapshotMetrics: true, RefreshTimeout: 10 * time.Second,
		Projects: []config.Project{{ID: p1, Clusters: []string{"dedicated-01"}}}})
	e.refresh(t)
	lines := grep(e.exposition(t), "atlas_backup_collect_success{")
	if len(lines) != 1 || !strings.Contains(lines[0], `cluster="dedicated-01"`) {
		t.Errorf("after reload:\n%s", strings.Join(lines, "\n"))
	}
}

func TestWatchedSnapshotsUseGetOne(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, estate.Settings{MinRefreshInterval: time.Minute, SnapshotMetrics: true,
		Projects: []config.Project{{ID: p1, Clusters: []string{"dedicated-01"}, Snapshots: []string{"6a0000010000000000000002"}}}})
	e.refresh(t)
	if n, m := e.srv.Count("getGroupClusterBackupSnapshot"), e.srv.Count("listGroupClusterBackupSnapshots"); n != 1 || m != 0 {
		t.Errorf("%d get-one and %d list requests, want 1 and 0", n, m)
	}
	out := e.exposition(t)
	expectLines(t, out,
		`atlas_backup_snapshots{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",status="completed"} 1`,
		`atlas_backup_snapshot_status{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",snapshot_id="6a0000010000000000000002",status="completed"} 1`)
}

// TestBackupSchedulesOff: with backup_schedules false no schedule is read, and turning it off
// by a reload drops the schedule series.
func TestBackupSchedulesOff(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	if !strings.Contains(e.exposition(t), "atlas_backup_schedule_interval_seconds{") {
		t.Fatal("no schedule series with backup_schedules on")
	}
	s := oneProject()
	s.BackupSchedules, s.RefreshTimeout = false, 10*time.Second
	e.engine.Reconfigure(estate.Sources{"": atlas.NewFetcher(e.client)}, s)
	e.srv.Reset()
	e.refresh(t)
	out := e.exposition(t)
	for _, name := range []string{"atlas_backup_schedule_interval_seconds", "atlas_backup_next_snapshot_timestamp_seconds"} {
		if strings.Contains(out, name+"{") {
			t.Errorf("%s still exposed", name)
		}
	}
	if n := e.srv.Count("getGroupClusterBackupSchedule"); n != 0 {
		t.Errorf("%d schedule requests with backup_schedules off", n)
	}
	expectLines(t, out, cloudOK)
}

// TestLegacyBackupIsNotBackupDisabled: discovery cannot see legacy backup (Atlas's backupEnabled
// is about Cloud Backup), so a cluster whose snapshots are listed as the kind the configuration
// names is backed up, of that kind; one whose listing is empty is not.
func TestLegacyBackupIsNotBackupDisabled(t *testing.T) {
	s := defaultSettings()
	s.Projects = []config.Project{{ID: p1}, {ID: p1, Clusters: []string{"legacy-05", "disabled-08"}, Kinds: []atlas.Kind{atlas.KindLegacy}}}
	e := newEnv(t, atlastest.Options{}, s)
	e.refresh(t)
	out := e.exposition(t)
	cluster := func(name string) string {
		return `cluster="` + name + `",project="project-001",project_id="5f0000000000000000000001"`
	}
	info := func(name, kind, typ, tier string) string {
		return `atlas_backup_cluster_info{` + `cluster="` + name + `",kind="` + kind + `",mongodb_version="8.0.4",project="project-001",project_id="5f0000000000000000000001",state="IDLE",tier="` + tier + `",type="` + typ + `"} 1`
	}
	expectLines(t, out,
		`atlas_backup_collect_success{cluster="legacy-05",kind="legacy",project="project-001",project_id="5f0000000000000000000001"} 1`,
		info("legacy-05", "legacy", "REPLICASET", "M30"),
		"atlas_backup_cluster_backup_enabled{"+cluster("legacy-05")+"} 1",
		// disabled-08 has no legacy backup: Atlas says to use the Cloud Backup endpoint, which
		// lists no snapshots.
		`atlas_backup_endpoint_sunset{cluster="disabled-08",kind="legacy",project="project-001",project_id="5f0000000000000000000001"} 1`,
		`atlas_backup_snapshots{cluster="disabled-08",kind="cloud",project="project-001",project_id="5f0000000000000000000001",status="completed"} 0`,
		info("disabled-08", "none", "REPLICASET", "M30"),
		"atlas_backup_cluster_backup_enabled{"+cluster("disabled-08")+"} 0",
		info("m0-07", "none", "TENANT", "M0"),
		"atlas_backup_cluster_backup_enabled{"+cluster("m0-07")+"} 0",
		info("dedicated-01", "cloud", "REPLICASET", "M30"),
		"atlas_backup_cluster_backup_enabled{"+cluster("dedicated-01")+"} 1")
	if n := len(grep(out, "atlas_backup_cluster_info{")); n != 8 {
		t.Errorf("%d cluster_info series, want one per cluster (8)", n)
	}
}
