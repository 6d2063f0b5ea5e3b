package collector

import (
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

var (
	exportJobs       = gaugeFamily("export_jobs", "Snapshot export jobs Atlas lists for the cluster, by state; every state is present. Cloud Backup clusters that export automatically or have any export job.", targetLabels, "state")
	lastExport       = gaugeFamily("last_export_timestamp_seconds", "When the newest successful export job finished. Absent when there is none.", targetLabels)
	lastFailedExport = gaugeFamily("last_failed_export_timestamp_seconds", "When the newest failed export job ended (its creation time where Atlas gives no finish time). Absent when there is none.", targetLabels)
)

func init() {
	register(group{
		families: []*metricFamily{exportJobs, lastExport, lastFailedExport},
		target:   buildExports,
	})
}

// buildExports adds a target's export-job series, for a cluster that exports automatically or
// has exported at all.
func buildExports(t *estate.TargetView, gauge gaugeFunc) {
	if !t.HasData {
		return
	}
	auto := t.Schedule != nil && t.Schedule.AutoExport
	if !t.Exports.Read || (len(t.Exports.List) == 0 && !auto) {
		return
	}
	counts := map[atlas.ExportState]float64{}
	var last, lastFailed time.Time
	for _, j := range t.Exports.List {
		counts[j.State]++
		switch end := j.EndedAt(); {
		case j.State == atlas.ExportSuccessful && end.After(last):
			last = end
		case j.State == atlas.ExportFailed && end.After(lastFailed):
			lastFailed = end
		}
	}
	for _, st := range atlas.ExportStates {
		gauge(exportJobs, counts[st], string(st))
	}
	if n := counts[atlas.ExportUnknown]; n > 0 {
		gauge(exportJobs, n, string(atlas.ExportUnknown))
	}
	if !last.IsZero() {
		gauge(lastExport, unix(last))
	}
	if !lastFailed.IsZero() {
		gauge(lastFailedExport, unix(lastFailed))
	}
}
