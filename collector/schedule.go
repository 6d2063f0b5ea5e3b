package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// A Cloud Backup cluster's backup policy: how often it snapshots, and when next.
var (
	scheduleInterval = gaugeFamily("schedule_interval_seconds", "Longest time the cluster's backup policy lets pass between two scheduled snapshots: the period of its most frequent item (months and years at their longest). Cloud Backup only; absent when the policy schedules none.", targetLabels)
	nextSnapshot     = gaugeFamily("next_snapshot_timestamp_seconds", "When Atlas plans to take the cluster's next scheduled snapshot, from its backup schedule. Cloud Backup only.", targetLabels)
)

func init() {
	register(group{
		families: []*metricFamily{scheduleInterval, nextSnapshot},
		target: func(t *estate.TargetView, gauge gaugeFunc) {
			sch := t.Schedule
			if !t.HasData || sch == nil {
				return
			}
			if d, ok := sch.Interval(); ok {
				gauge(scheduleInterval, d.Seconds())
			}
			if !sch.NextSnapshot.IsZero() {
				gauge(nextSnapshot, unix(sch.NextSnapshot))
			}
		},
	})
}
