package collector_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestShiftingListingKeepsLastGoodData: a snapshot listing of several pages that moves under
// both reads of a refresh (a snapshot added at its head whenever its first page is served) is
// not taken as the truth: the cluster reports failure with the last good data, the others are
// unaffected, the error is logged once, and the next steady listing is read whole.
func TestShiftingListingKeepsLastGoodData(t *testing.T) {
	e := newEnv(t, atlastest.Options{PageCap: 2}, oneProject())
	e.refresh(t)
	expectLines(t, e.exposition(t), flexSuccess+" 1", flexCount)
	added := 0
	e.srv.OnPage("listGroupFlexClusterBackupSnapshots", "flex-02", func(page int, es *atlastest.Estate) {
		if page != 1 {
			return
		}
		added++
		c := es.Projects[0].Cluster("flex-02")
		c.Snapshots = append([]atlastest.Snap{{ID: fmt.Sprintf("6a00000000000000000001%02x", added), Status: "completed", CreatedAt: testNow}}, c.Snapshots...)
	})
	for range 2 {
		e.clock.Advance(time.Minute)
		e.refresh(t)
	}
	expectLines(t, e.exposition(t), flexSuccess+" 0", flexLastGood, flexCount, cloudOK, "atlas_backup_up 1")
	logged := `level=warn msg="snapshot collection" project_id=5f0000000000000000000001 project=project-001 cluster=flex-02 kind=flex err="atlas: listGroupFlexClusterBackupSnapshots project=5f0000000000000000000001 cluster=flex-02 GET /api/atlas/v2/groups/5f0000000000000000000001/flexClusters/flex-02/backup/snapshots: HTTP 200: listing changed while it was read, twice in a row"`
	if n := strings.Count(e.logs.String(), logged+"\n"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, e.logs)
	}
	e.srv.OnPage("listGroupFlexClusterBackupSnapshots", "flex-02", nil)
	e.clock.Advance(time.Minute)
	e.refresh(t)
	// The three snapshots of the estate and the eight added (four per failed refresh).
	expectLines(t, e.exposition(t), flexSuccess+" 1",
		`atlas_backup_snapshots{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="completed"} 10`)
}
