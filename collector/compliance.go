package collector

import (
	"strconv"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// A project's Backup Compliance Policy, and how its last read went (family_collect_success,
// family compliance_policy, cluster and kind empty).
var (
	complianceEnabled = gaugeFamily("compliance_policy_enabled", "1 when a Backup Compliance Policy is in force in the project (state ACTIVE or UPDATING), 0 when there is none or it is being enabled or disabled.", projectLabels)
	complianceInfo    = gaugeFamily("compliance_policy_info", "The project's Backup Compliance Policy; always 1. Absent when the project has none.", projectLabels,
		"state", "pit_enabled", "copy_protection_enabled", "encryption_at_rest_enabled")
	complianceWindow    = gaugeFamily("compliance_policy_restore_window_seconds", "Point-in-time restore window the project's Backup Compliance Policy requires. Absent when it requires none.", projectLabels)
	complianceRetention = gaugeFamily("compliance_policy_retention_seconds", "Shortest time the project's Backup Compliance Policy lets a cluster keep the snapshots of a frequency (ondemand for on-demand snapshots), measured as schedule_retention_seconds is. Absent for a frequency it sets no minimum for.", projectLabels, "frequency")
)

// familyCompliance is the family label of the policy's reads.
const familyCompliance = "compliance_policy"

func init() {
	register(group{
		families: []*metricFamily{complianceEnabled, complianceInfo, complianceWindow, complianceRetention},
		view: func(v *estate.View, gauge gaugeFunc) {
			for _, pv := range v.Projects {
				collectCompliance(gauge, pv)
			}
		},
	})
}

// collectCompliance adds a project's policy series.
func collectCompliance(gauge gaugeFunc, pv *estate.ProjectView) {
	cs, p := pv.Compliance, pv.Project
	if !cs.Tried {
		return
	}
	gauge(familySuccess, b2f(cs.OK), p.ID, p.Name, "", "", familyCompliance)
	if !cs.Read {
		return
	}
	pol := cs.Policy
	gauge(complianceEnabled, b2f(pol != nil && pol.InForce()), p.ID, p.Name)
	if pol == nil {
		return
	}
	gauge(complianceInfo, 1, p.ID, p.Name, pol.State,
		strconv.FormatBool(pol.PITEnabled), strconv.FormatBool(pol.CopyProtectionEnabled), strconv.FormatBool(pol.EncryptionAtRestEnabled))
	if w := pol.RestoreWindow(); w > 0 {
		gauge(complianceWindow, w.Seconds(), p.ID, p.Name)
	}
	for _, f := range atlas.Frequencies {
		if d := pol.MinimumFor(f); d > 0 {
			gauge(complianceRetention, d.Seconds(), p.ID, p.Name, f)
		}
	}
}
