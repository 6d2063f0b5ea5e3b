package collector_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// retentionLines are the exposition's retention series: the schedules', their extra retention,
// and the compliance minimums.
var retentionLines = regexp.MustCompile(`(?m)^atlas_backup_(schedule_retention_seconds|schedule_extra_retention_seconds|compliance_policy_retention_seconds)\{.*$`)

// goldenLines compares lines with the golden file name.
func goldenLines(t *testing.T, name string, lines []string) {
	t.Helper()
	got := strings.Join(lines, "\n") + "\n"
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
		t.Errorf("retention series differ from %s (run go test ./collector -update and review the diff):\n%s", path, testenv.FirstDiff(string(want), got))
	}
}

// TestGoldenRetention: one retention series per item of the schedule, hourly and yearly
// included, the extra retention settings, and the compliance policy's minimums, on-demand
// included; a policy edited between refreshes shows once its schedule is read again, which a
// snapshot taken since and kept for a time the cached policy does not give brings about at once.
func TestGoldenRetention(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.srv.Update(func(es *atlastest.Estate) {
		p := es.Projects[0]
		c := p.Cluster("dedicated-01")
		c.NextSnapshot = testNow.Add(30 * 24 * time.Hour)
		c.Policy = []atlastest.PolicyItem{
			{Frequency: "hourly", Interval: 4, RetentionUnit: "days", RetentionValue: 3},
			{Frequency: "daily", Interval: 1, RetentionUnit: "days", RetentionValue: 14},
			{Frequency: "weekly", Interval: 1, RetentionUnit: "weeks", RetentionValue: 4},
			{Frequency: "weekly", Interval: 5, RetentionUnit: "weeks", RetentionValue: 8},
			{Frequency: "monthly", Interval: 40, RetentionUnit: "months", RetentionValue: 12},
			{Frequency: "yearly", Interval: 12, RetentionUnit: "years", RetentionValue: 7},
			{Frequency: "daily", Interval: 2, RetentionUnit: "fortnights", RetentionValue: 1}, // not a unit Atlas has: no series
		}
		c.ExtraRetention = []atlastest.ExtraRetention{{Frequency: "YEARLY", Days: 10}, {Frequency: "ON_DEMAND", Days: 2}}
		p.Compliance.Items = []atlastest.PolicyItem{
			{Frequency: "hourly", Interval: 4, RetentionUnit: "days", RetentionValue: 2},
			{Frequency: "daily", Interval: 1, RetentionUnit: "days", RetentionValue: 7},
			{Frequency: "monthly", Interval: 40, RetentionUnit: "months", RetentionValue: 12},
			{Frequency: "yearly", Interval: 12, RetentionUnit: "years", RetentionValue: 7},
		}
		p.Compliance.OnDemand = &atlastest.PolicyItem{RetentionUnit: "weeks", RetentionValue: 2}
	})
	schedules := func() int {
		n := e.srv.Count("getGroupClusterBackupSchedule")
		e.srv.Reset()
		return n
	}
	e.refresh(t)
	schedules()
	goldenLines(t, "retention.golden", retentionLines.FindAllString(e.exposition(t), -1))

	// Someone cuts the monthly tier to one month and drops the yearly one. The schedule read
	// is reused until its next snapshot (a month away) or for a day...
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.Policy[4].RetentionValue = 1
		c.Policy = append(c.Policy[:5], c.Policy[6:]...)
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if n := schedules(); n != 0 {
		t.Errorf("a refresh with nothing new read %d schedules", n)
	}
	goldenLines(t, "retention.golden", retentionLines.FindAllString(e.exposition(t), -1))
	// ... unless a monthly snapshot taken since is kept a month, which the cached policy (12
	// months) does not explain: read again in the same refresh.
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		created := e.clock.Now().Add(time.Second)
		c.Snapshots = append([]atlastest.Snap{{ID: "6a00000000000000000000fd", Status: "completed", CreatedAt: created,
			ExpiresAt: created.AddDate(0, 1, 0), Type: "scheduled", Frequency: "monthly"}}, c.Snapshots...)
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if n := schedules(); n != 1 {
		t.Errorf("a snapshot kept a month under a 12-month policy read %d schedules, want 1", n)
	}
	goldenLines(t, "retention-edited.golden", retentionLines.FindAllString(e.exposition(t), -1))
	// The snapshot is explained now: the schedule is not read again.
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if n := schedules(); n != 0 {
		t.Errorf("a snapshot the policy read explains read %d schedules", n)
	}
}
