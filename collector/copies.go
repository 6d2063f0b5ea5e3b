package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

var (
	copyRegionInfo     = gaugeFamily("copy_region_info", "Another region the cluster's backup policy copies snapshots to; always 1. Cloud Backup only.", targetLabels, "cloud_provider", "region")
	copyRegionInterval = gaugeFamily("copy_region_interval_seconds", "Longest time the backup policy lets pass between two snapshots copied to the region: the period of its most frequent item the copy setting covers. Absent when it copies no scheduled snapshot.", targetLabels, "cloud_provider", "region")
	copyRetention      = gaugeFamily("copy_region_retention_seconds", "How long the copies of a frequency's snapshots in the region are kept: the retention of the copy setting's item for it, or, where the setting names frequencies only, the snapshots' own. Absent for settings that copy the newest snapshots whatever their frequency (lastNumberOfSnapshots), of which Atlas says no retention.", targetLabels, "cloud_provider", "region", "frequency")
	copySameRetention  = gaugeFamily("copy_region_same_retention", "1 when the region keeps the copies of every frequency it copies as long as the cluster keeps the snapshots themselves, 0 when it keeps some for another time (copy_region_retention_seconds says which). Absent where Atlas says nothing of the copies' retention.", targetLabels, "cloud_provider", "region")
	lastCopied         = gaugeFamily("last_copied_snapshot_timestamp_seconds", "When the newest completed snapshot copied to the region was taken. Absent while none is (and for sharded clusters, whose snapshots Atlas lists without their copies).", targetLabels, "cloud_provider", "region")
)

func init() {
	register(group{
		families: []*metricFamily{copyRegionInfo, copyRegionInterval, copyRetention, copySameRetention, lastCopied},
		target:   buildCopies,
	})
}

// buildCopies adds a target's series of the regions its policy copies snapshots to.
func buildCopies(t *estate.TargetView, gauge gaugeFunc) {
	if !t.HasData {
		return
	}
	sch := t.Schedule
	if sch == nil {
		return
	}
	for _, r := range sch.Copies {
		gauge(copyRegionInfo, 1, r.CloudProvider, r.Region)
		if d, ok := sch.CopyInterval(r); ok {
			gauge(copyRegionInterval, d.Seconds(), r.CloudProvider, r.Region)
		}
		buildCopyRetention(sch, r, gauge)
		if at, ok := atlas.LastCopied(t.Current(), r.Region); ok {
			gauge(lastCopied, unix(at), r.CloudProvider, r.Region)
		}
	}
}
