package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

var (
	deletedEarly   = counterFamily("snapshots_deleted_early_total", "Completed snapshots that left the cluster's listing while their expiry was more than Atlas's deletion lag and the clock-skew tolerance ahead, since the exporter started watching the target. cause is policy when the cluster's backup policy, read once the deletion was seen, accounts for it (a policy edit applying a shorter retention, or removing an item, to existing snapshots), unexplained otherwise. Cloud Backup and serverless targets read by listing only.", targetLabels, "cause")
	shortened      = counterFamily("snapshots_expiry_shortened_total", "Snapshots whose expiry moved earlier between two listings by more than Atlas's deletion lag and the clock-skew tolerance, by cause (as for snapshots_deleted_early_total). Cloud Backup and serverless targets read by listing only.", targetLabels, "cause")
	tamperBaseline = gaugeFamily("tamper_baseline_timestamp_seconds", "When the listing the next comparison for deleted or shortened snapshots starts from was read: the target's last complete listing, so it moves at every refresh that reads one. Absent until the first complete listing after a start, or after a reload that changed the selection or the data source.", targetLabels)
)

func init() {
	register(group{
		families: []*metricFamily{deletedEarly, shortened, tamperBaseline},
		target:   buildTamper,
	})
}

// buildTamper adds a watched target's counts of snapshots deleted or shortened early, every
// cause from 0, and when its baseline was read.
func buildTamper(t *estate.TargetView, gauge gaugeFunc) {
	tv := &t.Tamper
	if !tv.Watched {
		return
	}
	for c, name := range estate.Causes {
		gauge(deletedEarly, float64(tv.DeletedEarly[c]), name)
		gauge(shortened, float64(tv.Shortened[c]), name)
	}
	if !tv.BaselineAt.IsZero() {
		gauge(tamperBaseline, unix(tv.BaselineAt))
	}
}
