package collector

import (
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

var (
	restoreJobs           = gaugeFamily("restore_jobs", "Restore jobs Atlas lists for the cluster (cloud and flex), by delivery type and status; every status of every delivery type of the kind is present.", targetLabels, "delivery_type", "status")
	lastRestore           = gaugeFamily("last_restore_timestamp_seconds", "When the newest restore job that restored its snapshot finished (completed, or expired since: a download whose link lapsed), any delivery type. Absent when there is none.", targetLabels)
	lastFailedRestore     = gaugeFamily("last_failed_restore_timestamp_seconds", "When the newest failed restore job finished. Absent when there is none.", targetLabels)
	scheduleRestoreWindow = gaugeFamily("schedule_restore_window_seconds", "How far back a point-in-time restore reaches (the backup policy's restoreWindowDays). Cloud Backup clusters with continuous backup only.", targetLabels)
)

func init() {
	register(group{
		families: []*metricFamily{restoreJobs, lastRestore, lastFailedRestore, scheduleRestoreWindow},
		target:   buildRestores,
	})
}

// buildRestores adds a target's restore-job series and its point-in-time restore window.
func buildRestores(t *estate.TargetView, gauge gaugeFunc) {
	if !t.HasData {
		return
	}
	if sch := t.Schedule; sch != nil && t.PIT && sch.RestoreWindow() > 0 {
		gauge(scheduleRestoreWindow, sch.RestoreWindow().Seconds())
	}
	if !t.Restores.Read {
		return
	}
	type key struct{ delivery, status string }
	counts := map[key]float64{}
	var last, lastFailed time.Time
	for _, j := range t.Restores.List {
		counts[key{j.DeliveryType, string(j.Status)}]++
		if j.Succeeded() && j.FinishedAt.After(last) {
			last = j.FinishedAt
		}
		if j.Status == atlas.RestoreFailed && j.FinishedAt.After(lastFailed) {
			lastFailed = j.FinishedAt
		}
	}
	for _, d := range t.Target.Kind.DeliveryTypes() {
		for _, st := range atlas.RestoreStatuses {
			k := key{d, string(st)}
			gauge(restoreJobs, counts[k], k.delivery, k.status)
			delete(counts, k)
		}
	}
	// What is left is a delivery type or status Atlas does not document.
	for k, n := range counts {
		gauge(restoreJobs, n, k.delivery, k.status)
	}
	if !last.IsZero() {
		gauge(lastRestore, unix(last))
	}
	if !lastFailed.IsZero() {
		gauge(lastFailedRestore, unix(lastFailed))
	}
}
