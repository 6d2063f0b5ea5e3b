package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

var targetMissing = gaugeFamily("target_missing", "1 for each configured target Atlas does not show: a project (cluster and kind empty), a cluster the configuration names (kind empty), or a kind a cluster Atlas lists cannot be read as. project is as configured (name or id; for discover_all_projects the project's name, or empty for a cluster no project holds). Absent for targets that are found.", []string{"project", "cluster", "kind"})

func init() {
	register(group{
		families: []*metricFamily{targetMissing},
		view: func(v *estate.View, gauge gaugeFunc) {
			for _, m := range v.Missing {
				gauge(targetMissing, 1, m.Project, m.Cluster, m.Kind)
			}
		},
	})
}
