package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Organisations and credential sets, when the configuration names sets: which organisation
// each project belongs to and which set reads it, each set's health, and the projects two sets
// select. Project ids are global, so the other series keep their labels and join on project_id.
var (
	projectInfo = gaugeFamily("project_info", "The project's organisation and the credential set that reads it; always 1. org_name is empty while the set's credentials may not read the organisation (it needs the Organization Member role). Only when the configuration names credential sets.",
		projectLabels, "org_id", "org_name", "credentials")
	credentialsUp = gaugeFamily("credentials_up", "1 if Atlas answered and accepted the credential set's credentials on the set's last refresh, 0 if it refused them or did not answer. credentials=\"default\" is the atlas section's own. Only when the configuration names credential sets.",
		[]string{"credentials"})
	credentialsLastSuccess = gaugeFamily("credentials_last_success_timestamp_seconds", "When a refresh of the credential set in which Atlas accepted its credentials last finished. Absent before the first.",
		[]string{"credentials"})
	credentialsOverlap = gaugeFamily("credentials_overlap", "1 for each project a credential set selects that an earlier set (read_by: the first the configuration's projects entries name) reads instead: the project is read once, by read_by.",
		projectLabels, "credentials", "read_by")
)

func init() {
	register(group{
		families: []*metricFamily{projectInfo, credentialsUp, credentialsLastSuccess, credentialsOverlap},
		view: func(v *estate.View, gauge gaugeFunc) {
			for _, c := range v.Credentials {
				gauge(credentialsUp, b2f(c.Up), c.Name)
				if !c.LastSuccess.IsZero() {
					gauge(credentialsLastSuccess, unix(c.LastSuccess), c.Name)
				}
			}
			for _, pv := range v.Projects {
				if pv.Credentials != "" {
					gauge(projectInfo, 1, pv.Project.ID, pv.Project.Name, pv.Org.ID, pv.Org.Name, pv.Credentials)
				}
			}
			for _, o := range v.Overlaps {
				gauge(credentialsOverlap, 1, o.Project.ID, o.Project.Name, o.Credentials, o.ReadBy)
			}
		},
	})
}
