package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// What discovery found: per project, how its last discovery went, and the clusters the
// configuration selects in it.
var (
	discoverySuccess   = gaugeFamily("discovery_success", "1 if the last discovery of the project's clusters succeeded.", projectLabels)
	discoveryTimestamp = gaugeFamily("discovery_timestamp_seconds", "When the project's clusters were last discovered.", projectLabels)
	clusterInfo        = gaugeFamily("cluster_info", "Discovered cluster; always 1. kind is the snapshot kind of its backups: the one discovery finds (cloud, flex, serverless); for a cluster discovery finds none for, the kind its snapshots are read from as the configuration names it (legacy backup, which discovery cannot see; with several, the first of cloud, flex, serverless, tenant, legacy whose listing has snapshots); none when neither (M0, backup disabled).", []string{"project_id", "project", "cluster", "kind", "type", "tier", "state", "mongodb_version"})
	clusterBackup      = gaugeFamily("cluster_backup_enabled", "1 if the discovered cluster is backed up: Atlas says its backups are enabled, or its snapshots are listed through a kind the configuration names (legacy backup); 0 when cluster_info's kind is none (always for M0).", []string{"project_id", "project", "cluster"})
	clusterPaused      = gaugeFamily("cluster_paused", "1 if the discovered cluster is paused: Atlas takes no scheduled snapshots of a paused cluster.", []string{"project_id", "project", "cluster"})
)

func init() {
	register(group{
		families: []*metricFamily{discoverySuccess, discoveryTimestamp, clusterInfo, clusterBackup, clusterPaused},
		view: func(v *estate.View, gauge gaugeFunc) {
			for _, pv := range v.Projects {
				p := pv.Project
				gauge(discoverySuccess, b2f(pv.DiscoveryOK), p.ID, p.Name)
				if !pv.DiscoveredAt.IsZero() {
					gauge(discoveryTimestamp, unix(pv.DiscoveredAt), p.ID, p.Name)
				}
				for _, cl := range pv.Clusters {
					kind := string(cl.BackupKind)
					enabled := kind != ""
					if !enabled {
						kind = "none"
					}
					gauge(clusterInfo, 1, p.ID, p.Name, cl.Name, kind, cl.Type, cl.Tier, cl.State, cl.MongoDBVersion)
					gauge(clusterBackup, b2f(enabled), p.ID, p.Name, cl.Name)
					gauge(clusterPaused, b2f(cl.Paused), p.ID, p.Name, cl.Name)
				}
			}
		},
	})
}
