package estate_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestHangingJobListingsKeepSnapshotsFresh: dedicated-06's restore-job listing and
// dedicated-01's export-job listing never answer, for longer than refresh_timeout, at three
// refreshes. Every cluster's snapshots and schedule are still delivered at each refresh
// (collect_success 1, collect_timestamp advancing); only the hanging families report failure,
// logged once; the other family of each cluster is read; and the refresh still counts as
// complete, so a full discovery that finds flex-02 deleted drops its series.
func TestHangingJobListingsKeepSnapshotsFresh(t *testing.T) {
	t.Parallel() // waits on a slow fake Atlas of its own
	e := newEnv(t, atlastest.Options{}, oneProject(), func(c *atlas.Config) { c.Timeout = time.Hour })
	e.refresh(t)
	s := oneProject()
	s.RefreshTimeout = time.Second // after the first refresh, so that a slow machine cannot cut that one
	e.Reconfigure(s)
	e.srv.SetFault("listGroupClusterBackupRestoreJobs", "dedicated-06", &atlastest.Fault{Hang: true})
	e.srv.SetFault("listGroupClusterBackupExports", "dedicated-01", &atlastest.Fault{Hang: true})
	e.srv.Reset()
	e.clock.Advance(30 * time.Minute) // jobs_interval: every cluster's jobs are due
	const d6Labels = `{cluster="dedicated-06",kind="cloud",project="project-001",project_id="5f0000000000000000000001"}`
	for i := range 3 {
		if i == 2 {
			// A full discovery is due, and flex-02 is gone from Atlas.
			removeCluster(e, 0, "flex-02")
			e.clock.Advance(time.Hour)
		}
		e.clock.Advance(time.Minute)
		e.refresh(t)
		now := " " + strconv.FormatFloat(float64(e.clock.Now().Unix()), 'g', -1, 64)
		out := e.exposition(t)
		expectLines(t, out, cloudOK, "atlas_backup_collect_timestamp_seconds"+cloudLabels+now,
			"atlas_backup_collect_success"+d6Labels+" 1", "atlas_backup_collect_timestamp_seconds"+d6Labels+now,
			"atlas_backup_schedule_interval_seconds"+cloudLabels+" 21600",
			familyLine(d6, string(atlas.RestoreJobKind), 0), familyLine(d6, string(atlas.ExportJobKind), 1),
			familyLine(d1, string(atlas.RestoreJobKind), 1), familyLine(d1, string(atlas.ExportJobKind), 0), "atlas_backup_up 1")
		if flex := strings.Contains(out, flexSuccess+" 1\n"); flex != (i < 2) {
			t.Errorf("refresh %d: flex-02 shown %v, want %v", i+1, flex, i < 2)
		}
	}
	// Each hanging listing was asked once per refresh; the others when they were due, at the
	// first refresh and an hour later (flex-02 and tenant-03 are the Flex clusters).
	if got, want := opCounts(e, "listGroupClusterBackupRestoreJobs", "listGroupClusterBackupExports", "listGroupFlexClusterBackupRestoreJobs"),
		map[string]int{"listGroupClusterBackupRestoreJobs": 3 + 2, "listGroupClusterBackupExports": 3 + 2, "listGroupFlexClusterBackupRestoreJobs": 2 + 1}; !equalCounts(got, want) {
		t.Errorf("job listings sent %v, want %v", got, want)
	}
	for _, line := range []string{
		`level=warn msg="restore_jobs collection" project_id=5f0000000000000000000001 project=project-001 cluster=dedicated-06 kind=cloud err="not finished within refresh_timeout (1s); the data shown is from the last read that finished"`,
		`level=warn msg="export_jobs collection" project_id=5f0000000000000000000001 project=project-001 cluster=dedicated-01 kind=cloud err="not finished within refresh_timeout (1s); the data shown is from the last read that finished"`,
	} {
		if n := strings.Count(e.logs.String(), line+"\n"); n != 1 {
			t.Errorf("logged %d times, want once: %s\n%s", n, line, e.logs)
		}
	}
	if strings.Contains(e.logs.String(), `msg="snapshot collection"`) {
		t.Errorf("a snapshot collection failed:\n%s", e.logs)
	}
}

// TestHangingJobListingReleasesTheScrape: a scrape that triggers a refresh waits for its
// snapshot phase only. dedicated-06's restore-job listing never answers and refresh_timeout is
// long, yet Refresh returns with every snapshot fresh and the job read still under way; its
// outcome arrives in a later view, and the next refresh waits for it.
func TestHangingJobListingReleasesTheScrape(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject(), func(c *atlas.Config) { c.Timeout = time.Hour })
	e.refresh(t)
	s := oneProject()
	s.RefreshTimeout = 10 * time.Minute
	e.Reconfigure(s)
	e.srv.SetFault("listGroupClusterBackupRestoreJobs", "dedicated-06", &atlastest.Fault{Hang: true})
	e.clock.Advance(30 * time.Minute) // jobs_interval: every cluster's jobs are due
	// Generous against a loaded machine, and far below refresh_timeout, which ends the hang.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e.engine.Refresh(ctx)
	if ctx.Err() != nil {
		t.Fatal("the scrape waited for the hanging job listing")
	}
	const d6Labels = `{cluster="dedicated-06",kind="cloud",project="project-001",project_id="5f0000000000000000000001"}`
	now := " " + strconv.FormatFloat(float64(e.clock.Now().Unix()), 'g', -1, 64)
	before := e.engine.View().Version
	expectLines(t, e.exposition(t), cloudOK, "atlas_backup_collect_timestamp_seconds"+cloudLabels+now,
		"atlas_backup_collect_success"+d6Labels+" 1", "atlas_backup_collect_timestamp_seconds"+d6Labels+now,
		familyLine(d6, string(atlas.RestoreJobKind), 1), "atlas_backup_up 1")
	if !e.engine.Refreshing() {
		t.Error("the refresh ended while a job listing hangs")
	}
	// A scrape meanwhile starts no refresh: the one under way is shared until its job reads end.
	e.clock.Advance(time.Hour)
	e.srv.Reset()
	e.engine.Refresh(ctx)
	if n := e.srv.Count(""); n != 0 {
		t.Errorf("a scrape during the job reads sent %d requests", n)
	}
	// The listing fails (the fake stops): its outcome comes with a new view.
	e.srv.Close()
	e.engine.WaitIdle(ctx)
	if v := e.engine.View(); v.Version == before {
		t.Error("the job read's outcome did not make a new view")
	}
	expectLines(t, e.exposition(t), familyLine(d6, string(atlas.RestoreJobKind), 0), cloudOK)
}
