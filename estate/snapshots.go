package estate

import (
	"slices"
	"time"

	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Snapshots whose data cannot be right keep their own series as Atlas gave them, but stay out
// of what they would falsify: one dated in the future would be the newest snapshot, with a
// negative age, for years, and a negative size would cancel out the others in the storage
// taken. The view counts the first (TargetView.Future); atlas leaves the second without a size.

// checkSnapshots counts the target's snapshots from the future (its snapshots are newest first,
// so they lead), and logs each snapshot from the future or with a negative size once for as
// long as Atlas lists it so. e.mu must be held.
func (e *setEngine) checkSnapshots(ts *targetState) {
	ts.future = 0
	for ts.future < len(ts.snapshots) && ts.snapshots[ts.future].FromFuture(ts.fetchedAt) {
		ts.future++
	}
	seen := ts.implausible
	ts.implausible = nil
	note := func(id, what string) bool {
		if ts.implausible == nil {
			ts.implausible = map[string]bool{}
		}
		key := what + " " + id
		ts.implausible[key] = true
		return !seen[key]
	}
	t, p := ts.served, ts.project
	for i, s := range ts.snapshots {
		if i < ts.future && note(s.ID, "future") {
			level.Warn(e.logger).Log("msg", "snapshot dated in the future, past the clock-skew tolerance; it is left out of the newest and oldest snapshots",
				"project_id", p.ID, "project", p.Name, "cluster", t.Cluster, "kind", t.Kind, "snapshot_id", s.ID,
				"created_at", s.CreatedAt.UTC().Format(time.RFC3339), "read_at", ts.fetchedAt.UTC().Format(time.RFC3339), "tolerance", atlas.ClockSkew)
		}
		if s.InvalidSize != 0 && note(s.ID, "size") {
			level.Warn(e.logger).Log("msg", "snapshot has a negative size; it is left out of storage_bytes",
				"project_id", p.ID, "project", p.Name, "cluster", t.Cluster, "kind", t.Kind, "snapshot_id", s.ID, "size_bytes", s.InvalidSize)
		}
	}
}

// sameSnapshots reports whether a and b list the same snapshots, in the same order. A
// target's snapshots are kept as the same slice while Atlas lists them unchanged: views share
// it, and a renderer need not render them again.
func sameSnapshots(a, b []atlas.Snapshot) bool {
	return slices.EqualFunc(a, b, sameSnapshot)
}

// sameSnapshot compares every field of atlas.Snapshot (TestSameSnapshotComparesEveryField
// fails when one is added).
func sameSnapshot(x, y atlas.Snapshot) bool {
	return x.ID == y.ID && x.Status == y.Status && x.RawStatus == y.RawStatus && x.CreatedAt.Equal(y.CreatedAt) &&
		x.ExpiresAt.Equal(y.ExpiresAt) && x.SizeBytes == y.SizeBytes && x.HasSize == y.HasSize && x.InvalidSize == y.InvalidSize &&
		x.Type == y.Type && x.Frequency == y.Frequency && x.MongoDBVersion == y.MongoDBVersion && slices.Equal(x.CopyRegions, y.CopyRegions)
}
