package estate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv/rig"
)

// TestTargetMissing: configured projects, clusters and kinds Atlas does not show each get a
// target_missing series and a log line when they start and stop missing.
func TestTargetMissing(t *testing.T) {
	s := oneProject()
	s.Projects = []config.Project{
		{Name: "Prodction"},
		{ID: "5f00000000000000000000ff"},
		{ID: p1, Clusters: []string{"dedicated-01", "no-such-cluster"}},
		{Name: "project-002", Clusters: []string{"dedicated-01"}, Kinds: []atlas.Kind{atlas.KindServerless}},
		{DiscoverAllProjects: true, Clusters: []string{"nowhere-01"}},
	}
	e := newEnv(t, atlastest.Options{}, s)
	// Atlas's serverless API does not know a dedicated cluster's name.
	e.srv.SetFault("listGroupServerlessBackupSnapshots", "dedicated-01", &atlastest.Fault{Status: 404, ErrorCode: "SERVERLESS_INSTANCE_NOT_FOUND"})
	e.refresh(t)
	want := `atlas_backup_target_missing{cluster="",kind="",project="5f00000000000000000000ff"} 1
atlas_backup_target_missing{cluster="",kind="",project="Prodction"} 1
atlas_backup_target_missing{cluster="no-such-cluster",kind="",project="5f0000000000000000000001"} 1
atlas_backup_target_missing{cluster="nowhere-01",kind="",project=""} 1`
	if got := e.MissingLines(t); got != want {
		t.Errorf("after the first refresh:\n%s\nwant\n%s", got, want)
	}
	// The 404 made project-002 due for discovery: it lists dedicated-01, so the cluster exists but
	// cannot be read as serverless. One refresh costs the three listings of project-002 (and its
	// compliance policy, read with each discovery) more.
	e.srv.Reset()
	e.clock.Advance(time.Minute)
	e.refresh(t)
	want = `atlas_backup_target_missing{cluster="",kind="",project="5f00000000000000000000ff"} 1
atlas_backup_target_missing{cluster="",kind="",project="Prodction"} 1
atlas_backup_target_missing{cluster="dedicated-01",kind="serverless",project="project-002"} 1
atlas_backup_target_missing{cluster="no-such-cluster",kind="",project="5f0000000000000000000001"} 1
atlas_backup_target_missing{cluster="nowhere-01",kind="",project=""} 1`
	if got := e.MissingLines(t); got != want {
		t.Errorf("after the second refresh:\n%s\nwant\n%s", got, want)
	}
	if got, want := e.srv.Counts(), map[string]int{"listClusterDetails": 1, "listGroupClusters": 1, "listGroupFlexClusters": 1,
		"listGroupServerlessInstances": 1, "getGroupBackupCompliancePolicy": 1, "listGroupClusterBackupSnapshots": 1, "listGroupServerlessBackupSnapshots": 1}; !equalCounts(got, want) {
		t.Errorf("second refresh sent\n%v\nwant\n%v", got, want)
	}
	// Still missing: no more rediscovery, and nothing logged again.
	e.srv.Reset()
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if got, want := e.srv.Counts(), map[string]int{"listClusterDetails": 1, "listGroupClusterBackupSnapshots": 1, "listGroupServerlessBackupSnapshots": 1}; !equalCounts(got, want) {
		t.Errorf("third refresh sent\n%v\nwant\n%v", got, want)
	}
	for _, line := range []string{
		`level=warn msg="configured target not found in Atlas; its backups are not watched" project=Prodction cluster= kind=`,
		`level=warn msg="configured target not found in Atlas; its backups are not watched" project=5f00000000000000000000ff cluster= kind=`,
		`level=warn msg="configured target not found in Atlas; its backups are not watched" project=5f0000000000000000000001 cluster=no-such-cluster kind=`,
		`level=warn msg="configured target not found in Atlas; its backups are not watched" project= cluster=nowhere-01 kind=`,
		`level=warn msg="configured target not found in Atlas; its backups are not watched" project=project-002 cluster=dedicated-01 kind=serverless`,
	} {
		if n := strings.Count(e.logs.String(), line+"\n"); n != 1 {
			t.Errorf("logged %d times, want once: %s", n, line)
		}
	}

	// Atlas gains what was missing: the all-projects cluster listing shows the new project and
	// cluster, so they are discovered at the next refresh, not at the next full discovery.
	e.srv.SetFault("listGroupServerlessBackupSnapshots", "dedicated-01", nil)
	e.srv.Update(func(es *atlastest.Estate) {
		es.Projects = append(es.Projects, &atlastest.Project{ID: "5f0000000000000000000003", Name: "Prodction"})
		es.Projects[0].Clusters = append(es.Projects[0].Clusters, &atlastest.Cluster{Name: "no-such-cluster", Kind: atlastest.Flex})
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	// Serverless dedicated-01 answers again: found. The id stays invisible, and nowhere-01 nowhere.
	want = `atlas_backup_target_missing{cluster="",kind="",project="5f00000000000000000000ff"} 1
atlas_backup_target_missing{cluster="nowhere-01",kind="",project=""} 1`
	if got := e.MissingLines(t); got != want {
		t.Errorf("after Atlas gained them:\n%s\nwant\n%s", got, want)
	}
	for _, line := range []string{
		`level=info msg="configured target found in Atlas" project=Prodction cluster= kind=`,
		`level=info msg="configured target found in Atlas" project=5f0000000000000000000001 cluster=no-such-cluster kind=`,
		`level=info msg="configured target found in Atlas" project=project-002 cluster=dedicated-01 kind=serverless`,
	} {
		if n := strings.Count(e.logs.String(), line+"\n"); n != 1 {
			t.Errorf("logged %d times, want once: %s\n%s", n, line, e.logs)
		}
	}
	expectLines(t, e.exposition(t), `atlas_backup_collect_success{cluster="no-such-cluster",kind="flex",project="project-001",project_id="5f0000000000000000000001"} 1`)
}

// TestTransientFailuresAreNotMissing: a project or cluster listing that fails says nothing
// about whether the configured target exists.
func TestTransientFailuresAreNotMissing(t *testing.T) {
	s := oneProject()
	s.Projects = []config.Project{{Name: "project-001", Clusters: []string{"dedicated-01"}}, {ID: p2}}
	e := newEnv(t, atlastest.Options{}, s)
	e.srv.SetFault("getGroupByName", "", &atlastest.Fault{Status: 500})
	e.srv.SetFault("listGroupClusters", "", &atlastest.Fault{Status: 503})
	e.refresh(t)
	if got := e.MissingLines(t); got != "" {
		t.Errorf("missing while Atlas fails:\n%s", got)
	}
}

// TestNewAndDeletedClusters: a new cluster appears at the next refresh when the all-projects
// cluster listing shows it, and at the next full discovery when it does not (multi-cloud); a
// deleted one vanishes at the next refresh and makes its project be discovered again.
func TestNewAndDeletedClusters(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	snapshots := map[string]int{"listGroupClusterBackupSnapshots": 1, "listGroupClusterBackupSnapshotShardedClusters": 1,
		"listGroupFlexClusterBackupSnapshots": 2, "listGroupServerlessBackupSnapshots": 1}
	rediscovery := map[string]int{"listGroupClusters": 1, "listGroupFlexClusters": 1, "listGroupServerlessInstances": 1, "getGroupBackupCompliancePolicy": 1}
	detector := map[string]int{"listClusterDetails": 1}

	e.AddCluster(0, &atlastest.Cluster{Name: "new-flex", Kind: atlastest.Flex})
	e.srv.Reset()
	e.clock.Advance(time.Minute)
	e.refresh(t)
	// The new cluster's restore jobs are read with its first snapshots.
	if got, want := e.srv.Counts(), merge(snapshots, rediscovery, detector, map[string]int{"listGroupFlexClusterBackupSnapshots": 1,
		"listGroupFlexClusterBackupRestoreJobs": 1}); !equalCounts(got, want) {
		t.Errorf("refresh after a cluster was created sent\n%v\nwant\n%v", got, want)
	}
	expectLines(t, e.exposition(t), `atlas_backup_collect_success{cluster="new-flex",kind="flex",project="project-001",project_id="5f0000000000000000000001"} 1`)
	if !strings.Contains(e.logs.String(), `msg="new cluster seen; discovering its project" project_id=5f0000000000000000000001 project=project-001 cluster=new-flex`) {
		t.Errorf("new cluster not logged:\n%s", e.logs)
	}

	// Multi-cloud clusters are not in the all-projects listing: found by the full discovery.
	e.AddCluster(0, &atlastest.Cluster{Name: "multi-01", Kind: atlastest.Dedicated, MultiCloud: true, Policy: atlastest.DefaultPolicy})
	e.srv.Reset()
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if got, want := e.srv.Counts(), merge(snapshots, detector, map[string]int{"listGroupFlexClusterBackupSnapshots": 1}); !equalCounts(got, want) {
		t.Errorf("refresh after a multi-cloud cluster was created sent\n%v\nwant\n%v", got, want)
	}
	e.clock.Advance(time.Hour)
	e.refresh(t)
	expectLines(t, e.exposition(t), `atlas_backup_collect_success{cluster="multi-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} 1`)

	// Deleted (after it failed once, which the exporter logged): the listing answers 404
	// CLUSTER_NOT_FOUND, the series go at once, and the next refresh discovers the project again.
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Status: 500, Times: 1})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	removeCluster(e, 0, "flex-02")
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if lines := grep(e.exposition(t), `{cluster="flex-02",kind="flex",project=`); len(lines) != 0 {
		t.Errorf("snapshot series of a deleted cluster:\n%s", strings.Join(lines, "\n"))
	}
	e.srv.Reset()
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if lines := grep(e.exposition(t), `cluster="flex-02"`); len(lines) != 0 {
		t.Errorf("series of a deleted cluster after its project's discovery:\n%s", strings.Join(lines, "\n"))
	}
	// flex-02 is gone; new-flex and multi-01 are read now.
	if got, want := e.srv.Counts(), merge(snapshots, rediscovery, detector, map[string]int{"listGroupClusterBackupSnapshots": 1}); !equalCounts(got, want) {
		t.Errorf("refresh after a deletion sent\n%v\nwant\n%v", got, want)
	}
	if got := e.MissingLines(t); got != "" {
		t.Errorf("a deleted cluster that was not named in the configuration is not missing:\n%s", got)
	}
	// Nothing is kept about it: what was logged about it went with its state.
	for _, tt := range e.engine.Targets() {
		if tt.Cluster == "flex-02" {
			t.Errorf("state kept for the deleted cluster: %v", tt)
		}
	}
}

// TestDetectorFailureFallsBackToTheInterval: without the all-projects listing, discovery still
// runs every discovery_interval, and the failure is logged once.
func TestDetectorFailureFallsBackToTheInterval(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	e.srv.SetFault("listClusterDetails", "", &atlastest.Fault{Status: 403, ErrorCode: "USER_UNAUTHORIZED"})
	e.AddCluster(0, &atlastest.Cluster{Name: "new-flex", Kind: atlastest.Flex})
	for range 3 {
		e.clock.Advance(time.Minute)
		e.refresh(t)
	}
	if strings.Contains(e.exposition(t), `cluster="new-flex"`) {
		t.Error("found a new cluster without a listing that shows it")
	}
	if n := strings.Count(e.logs.String(), `msg="the all-projects cluster listing failed; new clusters are found at the next full discovery"`); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, e.logs)
	}
	e.clock.Advance(time.Hour)
	e.refresh(t)
	expectLines(t, e.exposition(t), `atlas_backup_collect_success{cluster="new-flex",kind="flex",project="project-001",project_id="5f0000000000000000000001"} 1`, "atlas_backup_up 1")
}

// TestScheduleCache: a schedule is read again when its next snapshot is due, when it is a day
// old, when snapshots show a policy it does not have, and after a reload; otherwise reused.
func TestScheduleCache(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	next := testNow.Add(3 * time.Hour)
	e.srv.Update(func(es *atlastest.Estate) {
		es.Projects[0].Cluster("dedicated-01").NextSnapshot = next
		es.Projects[0].Cluster("dedicated-06").NextSnapshot = testNow.Add(30 * 24 * time.Hour)
	})
	schedules := func() int {
		n := e.srv.Count("getGroupClusterBackupSchedule")
		e.srv.Reset()
		return n
	}
	nextLine := "atlas_backup_next_snapshot_timestamp_seconds" + cloudLabels + " "
	e.refresh(t)
	if n := schedules(); n != 2 {
		t.Errorf("first refresh read %d schedules, want 2", n)
	}
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if n := schedules(); n != 0 {
		t.Errorf("a refresh before any next snapshot read %d schedules", n)
	}
	// dedicated-01's next snapshot is due: its schedule, and only its, is read again.
	e.srv.Update(func(es *atlastest.Estate) {
		es.Projects[0].Cluster("dedicated-01").NextSnapshot = next.Add(6 * time.Hour)
	})
	e.clock.Advance(3 * time.Hour)
	e.refresh(t)
	if n := schedules(); n != 1 {
		t.Errorf("the refresh after dedicated-01's next snapshot read %d schedules, want 1", n)
	}
	expectLines(t, e.exposition(t), nextLine+"1.7952084e+09")
	// A weekly snapshot the cached policy (hourly, daily, weekly, monthly) explains; a yearly one,
	// taken after the schedule was read, it does not: read again in the same refresh.
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.Policy = append(c.Policy, atlastest.PolicyItem{Frequency: "yearly", Interval: 1, RetentionUnit: "years", RetentionValue: 1})
		c.Snapshots = append([]atlastest.Snap{{ID: "6a00000000000000000000fe", Status: "completed", CreatedAt: e.clock.Now().Add(time.Second), Type: "scheduled", Frequency: "weekly"}}, c.Snapshots...)
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if n := schedules(); n != 0 {
		t.Errorf("an explained snapshot read %d schedules", n)
	}
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.NextSnapshot = testNow.Add(30 * 24 * time.Hour)
		c.Snapshots = append([]atlastest.Snap{{ID: "6a00000000000000000000ff", Status: "completed", CreatedAt: e.clock.Now().Add(time.Second), Type: "scheduled", Frequency: "yearly"}}, c.Snapshots...)
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if n := schedules(); n != 1 {
		t.Errorf("a snapshot the policy does not explain read %d schedules, want 1", n)
	}
	// dedicated-06's schedule is read once a day even though its next snapshot is weeks away.
	e.clock.Advance(24*time.Hour - 3*time.Hour - 3*time.Minute)
	e.refresh(t)
	if n := schedules(); n != 1 {
		t.Errorf("a day after the first read, %d schedules read, want 1 (dedicated-06)", n)
	}
	// A reload that changes the selection reads every schedule again.
	s := oneProject()
	s.Projects = []config.Project{{ID: p1, Exclude: rig.MustRegexp(t, "flex-.*")}}
	e.Reconfigure(s)
	e.refresh(t)
	if n := schedules(); n != 2 {
		t.Errorf("after a reload, %d schedules read, want 2", n)
	}
}

// TestRefreshTimeoutFailsUnfinishedTargets: a target still being read when the refresh times
// out counts as failed, and says why.
func TestRefreshTimeoutFailsUnfinishedTargets(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject(), func(c *atlas.Config) { c.Timeout = 10 * time.Second })
	e.refresh(t)
	e.ShortRefreshes()
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Hang: true})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	expectLines(t, e.exposition(t), flexSuccess+" 0", flexLastGood, cloudOK)
	logged := `level=warn msg="snapshot collection" project_id=5f0000000000000000000001 project=project-001 cluster=flex-02 kind=flex err="not finished within refresh_timeout (300ms); the data shown is from the last read that finished"`
	if n := strings.Count(e.logs.String(), logged+"\n"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, e.logs)
	}
}

// TestReconfigureKeepsWhatDidNotChange: a reload with the same data source keeps the fetcher's
// token and the refresh under way; one that changes the selection rediscovers at once.
func TestReconfigureKeepsWhatDidNotChange(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	e.srv.Reset()
	// Only how the data is shown changes: no request, no refresh.
	s := oneProject()
	s.SnapshotMetrics = false
	e.Reconfigure(s)
	if e.engine.Refreshing() {
		t.Error("a reload that changes no selection started a refresh")
	}
	if strings.Contains(e.exposition(t), "atlas_backup_snapshot_status{") {
		t.Error("per-snapshot series still shown with snapshot_metrics off")
	}
	if n := e.srv.Count(""); n != 0 {
		t.Errorf("%d requests", n)
	}
	// A new selection: a full discovery starts at once, with the same token.
	s.Projects = []config.Project{{ID: p1, Clusters: []string{"dedicated-01"}}}
	e.Reconfigure(s)
	e.refresh(t) // waits for the refresh the reload started
	if got, want := e.srv.Counts(), map[string]int{"listGroups": 1, "listGroupClusters": 1, "listGroupFlexClusters": 1, "listGroupServerlessInstances": 1,
		"getGroupBackupCompliancePolicy": 1, "listGroupClusterBackupSnapshots": 1, "getGroupClusterBackupSchedule": 1}; !equalCounts(got, want) {
		t.Errorf("reload sent\n%v\nwant\n%v", got, want)
	}
	if n := len(grep(e.exposition(t), "atlas_backup_collect_success{")); n != 1 {
		t.Errorf("%d targets after narrowing the selection, want 1", n)
	}
}

// TestReconfigureDuringRefreshKeepsItsData: reloads faster than refreshes (one per 20ms here)
// do not hold the data back: a refresh under way still delivers.
func TestReconfigureDuringRefreshKeepsItsData(t *testing.T) {
	e := newEnv(t, atlastest.Options{Latency: 100 * time.Millisecond}, oneProject())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := oneProject()
		for i := 0; ctx.Err() == nil; i++ {
			s.SnapshotMetrics = i%2 == 0
			e.Reconfigure(s)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	e.refresh(t)
	cancel()
	<-done
	expectLines(t, e.exposition(t), cloudOK, flexSuccess+" 1")
}

// scheduleEnv reads project-001 once, with dedicated-01's next snapshot at next and
// dedicated-06's a month away.
func scheduleEnv(t *testing.T, next time.Time) *env {
	t.Helper()
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.srv.Update(func(es *atlastest.Estate) {
		es.Projects[0].Cluster("dedicated-01").NextSnapshot = next
		es.Projects[0].Cluster("dedicated-06").NextSnapshot = testNow.Add(30 * 24 * time.Hour)
	})
	e.refresh(t)
	return e
}

// scheduleReads refreshes n times, five minutes apart, and returns how many schedules were read.
func (e *env) scheduleReads(t *testing.T, n int) int {
	t.Helper()
	e.srv.Reset()
	for range n {
		e.clock.Advance(5 * time.Minute)
		e.refresh(t)
	}
	return e.srv.Count("getGroupClusterBackupSchedule")
}

// TestScheduleBehindItsPolicy: a schedule whose next snapshot was due hours before Atlas gave it
// (Atlas is behind the cluster's policy) is read again hourly, not on every refresh; one due
// minutes before (the snapshot is being taken) is read at every refresh until Atlas moves it.
func TestScheduleBehindItsPolicy(t *testing.T) {
	e := scheduleEnv(t, testNow.Add(-3*time.Hour))
	if n := e.scheduleReads(t, 11); n != 0 {
		t.Errorf("%d schedule reads within the hour, want 0", n)
	}
	expectLines(t, e.exposition(t), "atlas_backup_next_snapshot_timestamp_seconds"+cloudLabels+" 1.7951652e+09")
	if n := e.scheduleReads(t, 1); n != 1 {
		t.Errorf("%d schedule reads after an hour, want 1", n)
	}
}

// TestDiscoveryCutOffFailsItsTargets: a full discovery whose listing hangs until refresh_timeout
// leaves the project's targets unread: they report failure, not their old success.
func TestDiscoveryCutOffFailsItsTargets(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject(), func(c *atlas.Config) { c.Timeout = 10 * time.Second })
	e.refresh(t)
	e.ShortRefreshes()
	e.srv.SetFault("listGroupClusters", "", &atlastest.Fault{Hang: true})
	e.clock.Advance(time.Hour)
	e.refresh(t)
	expectLines(t, e.exposition(t), flexSuccess+" 0", strings.TrimSuffix(cloudOK, "1")+"0", flexLastGood)
}

// TestEntryThatCannotResolveKeepsItsTargets: when one selector of a project cannot be resolved
// (a 5xx) while another lists the project, the first still reads what it selects.
func TestEntryThatCannotResolveKeepsItsTargets(t *testing.T) {
	s := oneProject()
	s.Projects = []config.Project{{DiscoverAllProjects: true}, {Name: "project-002", Clusters: []string{"legacy-05"}, Kinds: []atlas.Kind{atlas.KindLegacy}}}
	e := newEnv(t, atlastest.Options{}, s)
	e.refresh(t)
	legacy := `atlas_backup_collect_success{cluster="legacy-05",kind="legacy",project="project-002",project_id="5f0000000000000000000002"} 1`
	expectLines(t, e.exposition(t), legacy)
	e.srv.SetFault("getGroupByName", "", &atlastest.Fault{Status: 500})
	e.clock.Advance(time.Hour) // a full discovery: project-002 listed again, its name not resolved
	e.refresh(t)
	e.srv.SetFault("getGroupByName", "", nil)
	e.clock.Advance(time.Minute)
	e.refresh(t)
	expectLines(t, e.exposition(t), legacy)
}

func TestScheduleWhileItsSnapshotIsTaken(t *testing.T) {
	e := scheduleEnv(t, testNow.Add(-10*time.Minute))
	if n := e.scheduleReads(t, 3); n != 3 {
		t.Errorf("%d schedule reads in three refreshes, want 3", n)
	}
	// Atlas moves it on: read once more, then not until it is due.
	e.srv.Update(func(es *atlastest.Estate) {
		es.Projects[0].Cluster("dedicated-01").NextSnapshot = testNow.Add(6 * time.Hour)
	})
	if n := e.scheduleReads(t, 3); n != 1 {
		t.Errorf("%d schedule reads once Atlas moved the next snapshot on, want 1", n)
	}
	expectLines(t, e.exposition(t), "atlas_backup_next_snapshot_timestamp_seconds"+cloudLabels+" 1.7951976e+09")
}
