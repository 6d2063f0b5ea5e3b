package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// The reads beyond snapshots (restore and export jobs per target, the compliance policy per
// project) have their own cadence and failures (see package estate): each says how its last
// read went here, never in collect_success.
var familySuccess = gaugeFamily("family_collect_success", "1 if the last read of a family beyond snapshots succeeded, 0 if it failed or Atlas refused it (HTTP 403: the credentials lack the role it needs; the log names it); the last good data stays exposed. family is restore_jobs or export_jobs per cluster, compliance_policy per project (cluster and kind empty).", targetLabels, "family")

func init() {
	register(group{
		families: []*metricFamily{familySuccess},
		target: func(t *estate.TargetView, gauge gaugeFunc) {
			if !t.HasData {
				return
			}
			if t.Restores.Tried {
				gauge(familySuccess, b2f(t.Restores.OK), string(atlas.RestoreJobKind))
			}
			if t.Exports.Tried {
				gauge(familySuccess, b2f(t.Exports.OK), string(atlas.ExportJobKind))
			}
		},
	})
}
