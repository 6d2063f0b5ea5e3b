package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Per snapshot (snapshot_metrics): most of the output of a large estate, eight series per
// snapshot. An age would change at every scrape, so none is given: the creation timestamp is,
// and PromQL takes time() - it.
var (
	snapshotStatus  = gaugeFamily("snapshot_status", "Status of the snapshot: 1 for its status, 0 for the others.", targetLabels, "snapshot_id", "status")
	snapshotCreated = gaugeFamily("snapshot_created_timestamp_seconds", "When Atlas took the snapshot (Flex/tenant: when it finished; legacy: its created date).", targetLabels, "snapshot_id")
	snapshotExpires = gaugeFamily("snapshot_expires_timestamp_seconds", "When Atlas deletes the snapshot (Flex/tenant: when its download link expires). Absent where Atlas gives none.", targetLabels, "snapshot_id")
	snapshotSize    = gaugeFamily("snapshot_size_bytes", "Storage the snapshot takes (legacy: summed over parts). Absent for kinds without a size (flex, tenant).", targetLabels, "snapshot_id")
	snapshotInfo    = gaugeFamily("snapshot_info", "Snapshot metadata; always 1.", targetLabels, "snapshot_id", "frequency", "mongodb_version", "type")
)

func init() {
	register(group{
		families:    []*metricFamily{snapshotStatus, snapshotCreated, snapshotExpires, snapshotSize, snapshotInfo},
		target:      buildPerSnapshot,
		perSnapshot: true,
	})
}

// buildPerSnapshot adds the series of each of a target's snapshots, those Atlas dates in the
// future included.
func buildPerSnapshot(t *estate.TargetView, gauge gaugeFunc) {
	if !t.HasData {
		return
	}
	for i := range t.Snapshots {
		s := &t.Snapshots[i]
		for _, st := range atlas.Statuses {
			gauge(snapshotStatus, b2f(s.Status == st), s.ID, string(st))
		}
		if !s.CreatedAt.IsZero() {
			gauge(snapshotCreated, unix(s.CreatedAt), s.ID)
		}
		if !s.ExpiresAt.IsZero() {
			gauge(snapshotExpires, unix(s.ExpiresAt), s.ID)
		}
		if s.HasSize {
			gauge(snapshotSize, float64(s.SizeBytes), s.ID)
		}
		gauge(snapshotInfo, 1, s.ID, s.Frequency, s.MongoDBVersion, s.Type)
	}
}
