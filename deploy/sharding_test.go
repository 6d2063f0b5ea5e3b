package deploy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestShardedUnderPrometheus runs three shards and one unsharded exporter against a fake Atlas
// of 240 clusters of every kind in 30 projects (each with a failed restore, a failed export and
// a copy region behind, as the generator makes them, and the export jobs of one cluster
// refused), configured with one more project Atlas does not have. The shards read every snapshot listing exactly
// once between them, and their per-target series together are exactly the unsharded exporter's.
// Then every Prometheus release the tests know scrapes the three and a second replica of shard 0
// (an HA pair) as one job. Two snapshots of a cluster of shard 0 are then deleted and the expiry
// of a third cut, which both replicas of shard 0 count: each alert the estate should fire fires
// once, no rule evaluation fails, every dashboard query evaluates and shows the same as without
// the replica, and the panels of early deletions show them once.
func TestShardedUnderPrometheus(t *testing.T) {
	releases := testenv.Prometheuses(t)
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel()
	est := atlastest.Generate(atlastest.Spec{Seed: 11, Projects: 30, ClustersPerProject: 8, SnapshotsPerCluster: 6})
	// Atlas refuses the export jobs of every dedicated-06, as it does credentials without the
	// Project Backup Manager role: the dashboard's unreadable families have rows to show.
	newFake := func() *atlastest.Server {
		f := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "e2e", ClientSecret: "e2e-secret", Retirements: listingSunsetIn30Days()})
		f.SetFault("listGroupClusterBackupExports", "dedicated-06", &atlastest.Fault{Status: 403})
		t.Cleanup(f.Close)
		return f
	}
	shared, single, replicaFake := newFake(), newFake(), newFake()
	dir := t.TempDir()
	config := func(name, url, refresh string) string {
		cfg := filepath.Join(dir, name)
		// No refresh after the first (refresh 1h): every request the fakes see is the first
		// refresh's. The project Atlas does not have is shard 0's, which the HA pair reads twice.
		writeFile(t, cfg, fmt.Sprintf("atlas:\n  base_url: %s\n  service_account: {client_id: e2e, client_secret: e2e-secret}\nmin_refresh_interval: %s\nprojects:\n  - discover_all_projects: true\n  - name: no-such-project\n", url, refresh))
		return cfg
	}
	sharedCfg := config("shared.yml", shared.URL, "1h")
	// Shard 0 reads the same from a file of its own, which a reload later edits.
	shard0Cfg := config("shard0.yml", shared.URL, "1h")
	var shards []*exporterProcess
	var urls []string
	for i := range 3 {
		args := []string{"--config.file=" + sharedCfg, "--total-shards=3", fmt.Sprintf("--shard=%d", i)}
		if i == 0 {
			args = []string{"--config.file=" + shard0Cfg, "--total-shards=3", "--shard=0", "--web.enable-lifecycle"}
		}
		e := startExporter(t, args...)
		shards = append(shards, e)
		urls = append(urls, e.url)
	}
	one := startExporter(t, "--config.file="+config("single.yml", single.URL, "1h"))

	// /-/ready turns at the end of the first refresh's snapshot phase; its job reads go on
	// after, for longer on a loaded machine. No refresh follows, so once they have all arrived
	// the series stay as they are: they are compared until they agree, for up to 30 s, and
	// what differs then is reported.
	compare := func(tb testing.TB) {
		var series [][]string
		for _, e := range shards {
			series = append(series, testenv.PerTarget(httpGet(t, e.url+"/metrics"), timeOfRead))
		}
		testenv.CompareShards(tb, testenv.PerTarget(httpGet(t, one.url+"/metrics"), timeOfRead), series)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		try := &quietTB{TB: t}
		if compare(try); !try.failed {
			break
		}
	}
	compare(t)
	listings := map[string]int{}
	for _, r := range shared.Requests() {
		if strings.Contains(r.Path, "/snapshots") {
			listings[r.Path]++
		}
	}
	if len(listings) == 0 {
		t.Fatal("no snapshot listing reached the fake")
	}
	for path, n := range listings {
		if n != 1 {
			t.Errorf("%s requested %d times by the shards, want once", path, n)
		}
	}

	// Every shard hears Atlas retire these versions; the alerts aggregate them into one each.
	alerts := []string{
		"alertname=AtlasBackupAPIVersionSunsetPassed,operation=listGroupServerlessBackupSnapshots,severity=critical,version=2023-01-01",
		"alertname=AtlasBackupAPIVersionSunsetSoon,operation=listGroupServerlessInstances,severity=warning,version=2023-01-01",
		"alertname=AtlasBackupTargetMissing,project=no-such-project,severity=warning",
	}
	for _, p := range est.Projects {
		labels := fmt.Sprintf("project=%s,project_id=%s", p.Name, p.ID)
		alerts = append(alerts,
			"alertname=AtlasBackupCopyRegionBehind,cloud_provider=AWS,cluster=dedicated-01,kind=cloud,"+labels+",region=EU_WEST_1,severity=warning",
			"alertname=AtlasBackupDisabled,cluster=disabled-08,"+labels+",severity=info",
			"alertname=AtlasBackupDisabled,cluster=legacy-05,"+labels+",severity=info",
			"alertname=AtlasBackupEndpointDeprecated,cluster=serverless-04,kind=serverless,"+labels+",severity=info,sunset_date=2026-01-22",
			"alertname=AtlasBackupExportFailed,cluster=dedicated-01,kind=cloud,"+labels+",severity=warning",
			"alertname=AtlasBackupFallbackSnapshot,cluster=dedicated-06,kind=cloud,"+labels+",severity=warning",
			"alertname=AtlasBackupRestoreFailed,cluster=dedicated-06,kind=cloud,"+labels+",severity=warning",
			"alertname=AtlasBackupSnapshotFailed,cluster=flex-02,kind=flex,"+labels+",severity=critical,status=failed",
			"alertname=AtlasBackupSnapshotTooOld,cluster=serverless-04,kind=serverless,"+labels+",severity=critical",
		)
	}
	sort.Strings(alerts)
	// The replica reads a fake of its own, so that the listings above count the shards' alone.
	replica := startExporter(t, "--config.file="+config("replica.yml", replicaFake.URL, "1h"), "--total-shards=3", "--shard=0", "--web.enable-lifecycle")
	proms := startPrometheuses(t, dir, releases, append(urls, replica.url)...)
	for _, p := range proms {
		waitFor(t, time.Minute, "Prometheus "+p.version+" to scrape the shards", func() bool { return len(queryValues(p.api, "atlas_backup_up == 1")) == 4 })
	}

	// Prometheus has seen shard 0's counters of early deletions at 0. Now two snapshots of one of
	// its Cloud Backup clusters are deleted and the expiry of a third cut (in the estate the fakes
	// share, which only shard 0's two replicas read again), and a reload lets both replicas
	// refresh at every scrape: each counts them, and the panels of early deletions have rows,
	// shown once.
	project := shardProject(t, httpGet(t, shards[0].url+"/metrics"), "dedicated-01")
	shared.Update(func(e *atlastest.Estate) {
		c := e.Project(project.ID).Cluster("dedicated-01")
		cut := c.Snapshots[3].ID
		c.DeleteSnapshots(c.Snapshots[1].ID, c.Snapshots[2].ID)
		c.SetExpiry(cut, time.Now().Add(2*time.Hour))
	})
	for _, r := range []struct {
		e         *exporterProcess
		file, url string
	}{{shards[0], "shard0.yml", shared.URL}, {replica, "replica.yml", replicaFake.URL}} {
		config(r.file, r.url, "1s")
		if got := httpPost(t, r.e.url+"/-/reload"); got != "Reloaded\n" {
			t.Fatalf("POST /-/reload (%s): %q", r.file, got)
		}
	}
	labels := fmt.Sprintf("cluster=dedicated-01,kind=cloud,project=%s,project_id=%s", project.Name, project.ID)
	for _, p := range proms {
		waitFor(t, time.Minute, "both replicas to count the deletions in Prometheus "+p.version, func() bool {
			sel := fmt.Sprintf(`{cause="unexplained",cluster="dedicated-01",project_id=%q}`, project.ID)
			return len(queryValues(p.api, "atlas_backup_snapshots_deleted_early_total"+sel+" == 2")) == 2 &&
				len(queryValues(p.api, "atlas_backup_snapshots_expiry_shortened_total"+sel+" == 1")) == 2
		})
	}
	alerts = append(alerts,
		"alertname=AtlasBackupSnapshotExpiryShortened,cause=unexplained,"+labels+",severity=warning",
		"alertname=AtlasBackupSnapshotsDeletedEarly,cause=unexplained,"+labels+",severity=critical")
	sort.Strings(alerts)
	for _, p := range proms {
		expectAlerts(t, p, alerts)
		expectRulesEvaluated(t, p)
		checkDashboard(t, p, strings.TrimPrefix(replica.url, "http://"))
		series := fmt.Sprintf("cause=unexplained,cluster=dedicated-01,job=atlas_backup,kind=cloud,project=%s,project_id=%s", project.Name, project.ID)
		expectPanel(t, p, "Snapshots deleted early", " 2")
		expectPanel(t, p, "Snapshot expiries shortened", " 1")
		expectPanel(t, p, "Watched without baseline", " 0")
		expectPanel(t, p, "Deleted early and expiry shortened per cluster", series+" 2", series+" 1")
	}
}

// quietTB records that a check failed instead of failing the test.
type quietTB struct {
	testing.TB
	failed bool
}

func (q *quietTB) Errorf(string, ...any) { q.failed = true }

// shardProject is the project whose cluster of that name the exposition shows watched for
// early deletions.
func shardProject(t *testing.T, exposition, cluster string) *atlastest.Project {
	t.Helper()
	m := regexp.MustCompile(`(?m)^atlas_backup_snapshots_deleted_early_total\{[^}]*cluster="` + cluster + `",kind="cloud",project="([^"]+)",project_id="([^"]+)"`).FindStringSubmatch(exposition)
	if m == nil {
		t.Fatalf("no watched %s in:\n%s", cluster, exposition)
	}
	return &atlastest.Project{Name: m[1], ID: m[2]}
}

// timeOfRead matches the exposition lines of readTimeFamilies.
var timeOfRead = regexp.MustCompile(`^` + readTimeFamilies + `\{`)
