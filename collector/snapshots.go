package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Per target (project, cluster, kind): how its last read went, and what its snapshots say.
// Snapshots Atlas dates in the future keep their per-snapshot series, but stay out of the
// counts and the newest and oldest, where they would hide snapshots that stop coming.
var (
	collectSuccess   = gaugeFamily("collect_success", "1 if the last attempt to read the cluster's snapshots (and, for Cloud Backup, its backup schedule) succeeded, 0 if it failed (the last good data stays exposed).", targetLabels)
	collectTimestamp = gaugeFamily("collect_timestamp_seconds", "When the snapshot data exposed for the cluster was fetched from Atlas.", targetLabels)
	snapshotsCount   = gaugeFamily("snapshots", "Snapshots Atlas lists for the cluster, by status; those it dates in the future are in future_snapshots instead.", targetLabels, "status")
	futureSnapshots  = gaugeFamily("future_snapshots", "Snapshots Atlas dates more than the clock-skew tolerance ("+atlas.ClockSkew.String()+") after they were read: Atlas's clock or this host's is wrong. They keep their per-snapshot series but are left out of snapshots, last_snapshot_status and the newest, oldest, fallback and copied snapshot timestamps, where they would hide snapshots that stop coming.", targetLabels)
	lastCompleted    = gaugeFamily("last_completed_snapshot_timestamp_seconds", "When the newest completed snapshot was taken. Absent when there is none.", targetLabels)
	lastStatus       = gaugeFamily("last_snapshot_status", "Status of the newest snapshot: 1 for its status, 0 for the others.", targetLabels, "status")
	oldestCompleted  = gaugeFamily("oldest_completed_snapshot_timestamp_seconds", "When the oldest completed snapshot was taken: the start of the restore window.", targetLabels)
	lastFallback     = gaugeFamily("last_fallback_snapshot_timestamp_seconds", "When the newest fallback snapshot was taken (Atlas fell back because the primary snapshot method failed). Absent when there is none.", targetLabels)
	storageBytes     = gaugeFamily("storage_bytes", "Storage taken by all the cluster's snapshots: negative sizes, which Atlas should never give, are left out (and logged), and the sum stops at 2^63-1. Absent for kinds without sizes (flex, tenant).", targetLabels)
)

func init() {
	register(group{
		families: []*metricFamily{collectSuccess, collectTimestamp, snapshotsCount, futureSnapshots, lastCompleted, lastStatus, oldestCompleted, lastFallback, storageBytes},
		target:   buildSnapshots,
	})
}

func buildSnapshots(t *estate.TargetView, gauge gaugeFunc) {
	gauge(collectSuccess, b2f(t.OK))
	if !t.HasData {
		return
	}
	gauge(collectTimestamp, unix(t.FetchedAt))
	// Snapshots from the future take storage too, but are no part of the cluster's history yet.
	var size int64
	hasSize := t.Target.Kind.HasSizes()
	for _, s := range t.Snapshots {
		if s.HasSize {
			size, hasSize = atlas.AddSizes(size, s.SizeBytes), true
		}
	}
	counts := map[atlas.Status]float64{}
	var newestDone, oldestDone, newestFallback *atlas.Snapshot
	snaps := t.Current()
	for i := range snaps {
		s := &snaps[i]
		counts[s.Status]++
		if s.Status == atlas.StatusCompleted {
			if newestDone == nil || s.CreatedAt.After(newestDone.CreatedAt) {
				newestDone = s
			}
			if oldestDone == nil || s.CreatedAt.Before(oldestDone.CreatedAt) {
				oldestDone = s
			}
		}
		if s.IsFallback() && (newestFallback == nil || s.CreatedAt.After(newestFallback.CreatedAt)) {
			newestFallback = s
		}
	}
	for _, st := range atlas.Statuses {
		gauge(snapshotsCount, counts[st], string(st))
	}
	if counts[atlas.StatusUnknown] > 0 {
		gauge(snapshotsCount, counts[atlas.StatusUnknown], string(atlas.StatusUnknown))
	}
	gauge(futureSnapshots, float64(t.Future))
	if hasSize {
		gauge(storageBytes, float64(size))
	}
	if newestDone != nil {
		gauge(lastCompleted, unix(newestDone.CreatedAt))
		gauge(oldestCompleted, unix(oldestDone.CreatedAt))
	}
	if newestFallback != nil {
		gauge(lastFallback, unix(newestFallback.CreatedAt))
	}
	if len(snaps) > 0 {
		// Snapshots are kept newest first.
		newest := snaps[0].Status
		for _, st := range atlas.Statuses {
			gauge(lastStatus, b2f(newest == st), string(st))
		}
	}
}
