package atlastest

import (
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// TestGeneratedExpiries: each snapshot expires its frequency's retention under the cluster's
// policy after it was taken (Flex and the other kinds without one: 8 days), and none is listed
// past it but the one a healthy-with-an-expired-snapshot cluster keeps on purpose.
func TestGeneratedExpiries(t *testing.T) {
	e := Generate(Spec{Seed: 1, Projects: 1, ClustersPerProject: 8, SnapshotsPerCluster: 30, Now: testNow})
	want := map[string]int{"dedicated-01": 28, "flex-02": 8, "tenant-03": 8, "serverless-04": 4, "legacy-05": 8, "dedicated-06": 28}
	for _, c := range e.Projects[0].Clusters {
		if len(c.Snapshots) != want[c.Name] {
			t.Errorf("%s: %d snapshots, want %d", c.Name, len(c.Snapshots), want[c.Name])
		}
		items := c.Policy
		if items == nil {
			items = []PolicyItem{flexDaily}
		}
		freqs := map[string]int{}
		for i, sn := range c.Snapshots {
			freqs[sn.Frequency]++
			var it PolicyItem
			for _, x := range items {
				if x.Frequency == sn.Frequency {
					it = x
				}
			}
			expires := it.expiry(sn.CreatedAt)
			if c.Name == "legacy-05" && i == len(c.Snapshots)-1 {
				expires = testNow.Add(-time.Hour) // expired, not yet deleted
			} else if !expires.After(testNow) {
				t.Errorf("%s: snapshot %d (%s, taken %s) listed past its retention", c.Name, i, sn.Frequency, sn.CreatedAt)
			}
			if !sn.ExpiresAt.Equal(expires) {
				t.Errorf("%s: snapshot %d expires %s, want %s", c.Name, i, sn.ExpiresAt, expires)
			}
		}
		if c.Kind == Dedicated && (freqs["hourly"] != 8 || freqs["daily"] != 5 || freqs["weekly"] != 3 || freqs["monthly"] != 12) {
			t.Errorf("%s: frequencies %v", c.Name, freqs)
		}
	}
}

// TestExpireDeleteSetExpiry: the estate's helpers between refreshes.
func TestExpireDeleteSetExpiry(t *testing.T) {
	e := Generate(Spec{Seed: 1, Projects: 1, ClustersPerProject: 1, SnapshotsPerCluster: 10, Kinds: []ClusterKind{Dedicated}, Now: testNow})
	c := e.Projects[0].Clusters[0]
	ids := []string{c.Snapshots[0].ID, c.Snapshots[1].ID}
	if n := c.DeleteSnapshots(ids[0], "nope"); n != 1 || c.Snapshots[0].ID != ids[1] {
		t.Errorf("deleted %d; first now %s", n, c.Snapshots[0].ID)
	}
	if !c.SetExpiry(ids[1], testNow.Add(time.Minute)) || c.SetExpiry(ids[0], testNow) {
		t.Error("SetExpiry found a deleted snapshot, or not an existing one")
	}
	if n := e.Expire(testNow.Add(time.Minute)); n != 1 || len(c.Snapshots) != 8 {
		t.Errorf("expired %d, %d left; want 1, 8", n, len(c.Snapshots))
	}
}
