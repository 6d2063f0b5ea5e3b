package collector_test

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

func seconds(t time.Time) string { return strconv.FormatFloat(float64(t.Unix()), 'g', -1, 64) }

// TestSnapshotFromTheFuture: snapshots Atlas dates past the clock-skew tolerance ahead keep
// their own series but are not the newest (completed, fallback, copied) snapshot, nor counted;
// future_snapshots counts them and each is logged once. One within the tolerance is taken as it
// is.
func TestSnapshotFromTheFuture(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	tenYears, inAnHour, skewed := testNow.AddDate(10, 0, 0), testNow.Add(time.Hour), testNow.Add(atlas.ClockSkew-time.Minute)
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.Snapshots = append([]atlastest.Snap{
			{ID: "6a00000000000000000000f1", Status: "completed", CreatedAt: tenYears, Type: "fallback", Frequency: "hourly", Size: 1000, CopyRegions: []string{"US_WEST_2"}},
			{ID: "6a00000000000000000000f2", Status: "failed", CreatedAt: inAnHour, Type: "scheduled", Frequency: "hourly"},
			{ID: "6a00000000000000000000f3", Status: "completed", CreatedAt: skewed, Type: "scheduled", Frequency: "hourly"},
		}, c.Snapshots...)
	})
	for range 3 {
		e.refresh(t)
		e.clock.Advance(time.Minute)
	}
	out := e.exposition(t)
	snapshot := func(id string) string {
		return `{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",snapshot_id="` + id + `"}`
	}
	status := func(st string) string {
		return `{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",status="` + st + `"}`
	}
	expectLines(t, out,
		"atlas_backup_future_snapshots"+cloudLabels+" 2",
		// The newest snapshot within the tolerance is the newest completed one.
		"atlas_backup_last_completed_snapshot_timestamp_seconds"+cloudLabels+" "+seconds(skewed),
		"atlas_backup_oldest_completed_snapshot_timestamp_seconds"+cloudLabels+" 1.795130842e+09",
		"atlas_backup_last_snapshot_status"+status("completed")+" 1",
		"atlas_backup_last_snapshot_status"+status("failed")+" 0",
		"atlas_backup_snapshots"+status("completed")+" 4",
		"atlas_backup_snapshots"+status("failed")+" 0",
		`atlas_backup_last_copied_snapshot_timestamp_seconds{cloud_provider="AWS",cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",region="US_WEST_2"} 1.795174042e+09`,
		// They take storage all the same.
		"atlas_backup_storage_bytes"+cloudLabels+" 3.544501772e+09",
		// Their own series say what Atlas says.
		"atlas_backup_snapshot_created_timestamp_seconds"+snapshot("6a00000000000000000000f1")+" "+seconds(tenYears),
		"atlas_backup_snapshot_status"+strings.TrimSuffix(snapshot("6a00000000000000000000f2"), "}")+`,status="failed"} 1`,
		"atlas_backup_snapshot_size_bytes"+snapshot("6a00000000000000000000f1")+" 1000",
		"atlas_backup_snapshot_created_timestamp_seconds"+snapshot("6a00000000000000000000f2")+" "+seconds(inAnHour),
	)
	if strings.Contains(out, "atlas_backup_last_fallback_snapshot_timestamp_seconds"+cloudLabels) {
		t.Error("a fallback snapshot from the future is the last fallback")
	}
	for _, want := range []string{
		`level=warn msg="snapshot dated in the future, past the clock-skew tolerance; it is left out of the newest and oldest snapshots" project_id=5f0000000000000000000001 project=project-001 cluster=dedicated-01 kind=cloud snapshot_id=6a00000000000000000000f1 created_at=2036-11-20T12:00:00Z read_at=2026-11-20T12:00:00Z tolerance=5m0s`,
		`snapshot_id=6a00000000000000000000f2 created_at=2026-11-20T13:00:00Z read_at=2026-11-20T12:00:00Z tolerance=5m0s`,
	} {
		if n := strings.Count(e.logs.String(), want); n != 1 {
			t.Errorf("logged %d times, want once: %s\n%s", n, want, e.logs)
		}
	}
	if n := strings.Count(e.logs.String(), "in the future"); n != 2 {
		t.Errorf("%d snapshots from the future logged, want 2:\n%s", n, e.logs)
	}
	testenv.CheckMetrics(t, out)
}

// TestSnapshotSizesOutOfRange: a negative size is left out of storage_bytes and the snapshot's
// own size series, and logged once; sums saturate rather than wrap; a size that does not fit
// an int64 fails the cluster's collection, with its error.
func TestSnapshotSizesOutOfRange(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, defaultSettings())
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.Snapshots[0].Size, c.Snapshots[1].Size = math.MaxInt64, math.MinInt64
	})
	e.srv.SetFault("listGroupClusterSnapshots", "legacy-05", &atlastest.Fault{Body: `{"results": [
		{"id": "6a00000000000000000000a1", "complete": true, "created": {"date": "2026-11-20T10:00:00Z"},
		 "parts": [{"storageSizeBytes": 9223372036854775807}, {"storageSizeBytes": 9223372036854775807}]},
		{"id": "6a00000000000000000000a2", "complete": true, "created": {"date": "2026-11-20T09:00:00Z"},
		 "parts": [{"storageSizeBytes": 5}, {"storageSizeBytes": -7}]}], "links": []}`})
	e.srv.SetFault("listGroupServerlessBackupSnapshots", "serverless-04", &atlastest.Fault{Body: `{"results": [{"id": "6a00000000000000000000b1", "storageSizeBytes": 9223372036854775808}]}`})
	for range 3 {
		e.refresh(t)
		e.clock.Advance(10 * time.Minute)
	}
	out := e.exposition(t)
	legacy := `{cluster="legacy-05",kind="legacy",project="project-002",project_id="5f0000000000000000000002"}`
	expectLines(t, out,
		"atlas_backup_storage_bytes"+cloudLabels+" 9.223372036854776e+18",
		`atlas_backup_snapshot_size_bytes{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",snapshot_id="6a0000010000000000000001"} 9.223372036854776e+18`,
		"atlas_backup_storage_bytes"+legacy+" 9.223372036854776e+18",
		`atlas_backup_snapshot_size_bytes{cluster="legacy-05",kind="legacy",project="project-002",project_id="5f0000000000000000000002",snapshot_id="6a00000000000000000000a1"} 9.223372036854776e+18`,
		"atlas_backup_collect_success"+legacy+" 1",
		cloudOK,
		`atlas_backup_collect_success{cluster="serverless-04",kind="serverless",project="project-001",project_id="5f0000000000000000000001"} 0`)
	for _, id := range []string{"6a0000010000000000000002", "6a00000000000000000000a2"} {
		if lines := grep(out, `snapshot_id="`+id+`"`); len(lines) == 0 || len(grep(strings.Join(lines, "\n"), "atlas_backup_snapshot_size_bytes{")) != 0 {
			t.Errorf("series of snapshot %s, which has a negative size:\n%s", id, strings.Join(lines, "\n"))
		}
	}
	for _, want := range []string{
		`level=warn msg="snapshot has a negative size; it is left out of storage_bytes" project_id=5f0000000000000000000001 project=project-001 cluster=dedicated-01 kind=cloud snapshot_id=6a0000010000000000000002 size_bytes=-9223372036854775808`,
		`level=warn msg="snapshot has a negative size; it is left out of storage_bytes" project_id=5f0000000000000000000002 project=project-002 cluster=legacy-05 kind=legacy snapshot_id=6a00000000000000000000a2 size_bytes=-7`,
		`level=warn msg="snapshot collection" project_id=5f0000000000000000000001 project=project-001 cluster=serverless-04 kind=serverless err="atlas: listGroupServerlessBackupSnapshots project=5f0000000000000000000001 cluster=serverless-04 GET /api/atlas/v2/groups/5f0000000000000000000001/serverless/serverless-04/backup/snapshots: HTTP 200: decoding response: json: cannot unmarshal number 9223372036854775808 into Go struct field wireCloudSnapshot.results.storageSizeBytes of type int64"`,
	} {
		if n := strings.Count(e.logs.String(), want); n != 1 {
			t.Errorf("logged %d times, want once: %s\n%s", n, want, e.logs)
		}
	}
	testenv.CheckMetrics(t, out)
}
