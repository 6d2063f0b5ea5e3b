package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// The reads beyond snapshots have their own cadence and failures (see package estate): each
// says how its last read went in family_collect_success, never in collect_success.

// The reads, as the family label names them.
const (
	familyRestores   = string(atlas.RestoreJobKind)
	familyExports    = string(atlas.ExportJobKind)
	familyCompliance = "compliance_policy"
)

var familySuccess = desc("family_collect_success", "1 if the last read of a family beyond snapshots succeeded, 0 if it failed or Atlas refused it (HTTP 403: the credentials lack the role it needs; the log names it); the last good data stays exposed. family is restore_jobs or export_jobs per cluster, compliance_policy per project (cluster and kind empty).", targetLabels, "family")

// jobsDescs are the descriptors of every read beyond snapshots.
var jobsDescs = []*prometheus.Desc{
	familySuccess, restoreJobs, lastRestore, lastFailedRestore, scheduleRestoreWindow,
	exportJobs, lastExport, lastFailedExport, copyRegionInfo, copyRegionInterval, lastCopied,
	complianceEnabled, complianceInfo, complianceWindow,
}

// gaugeFunc adds a sample of a target's metric with its labels and extra label values.
type gaugeFunc = func(d *prometheus.Desc, v float64, extra ...string)

// buildJobs adds a target's series of the reads beyond snapshots.
func buildJobs(t *estate.TargetView, gauge gaugeFunc) {
	if t.Restores.Tried {
		gauge(familySuccess, b2f(t.Restores.OK), familyRestores)
	}
	if t.Exports.Tried {
		gauge(familySuccess, b2f(t.Exports.OK), familyExports)
	}
	buildRestores(t, gauge)
	buildExports(t, gauge)
	buildCopies(t, gauge)
}
