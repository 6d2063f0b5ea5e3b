package collector

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

var (
	projectLabels     = []string{"project_id", "project"}
	complianceEnabled = desc("compliance_policy_enabled", "1 when a Backup Compliance Policy is in force in the project (state ACTIVE or UPDATING), 0 when there is none or it is being enabled or disabled.", projectLabels)
	complianceInfo    = desc("compliance_policy_info", "The project's Backup Compliance Policy; always 1. Absent when the project has none.", projectLabels,
		"state", "pit_enabled", "copy_protection_enabled", "encryption_at_rest_enabled")
	complianceWindow = desc("compliance_policy_restore_window_seconds", "Point-in-time restore window the project's Backup Compliance Policy requires. Absent when it requires none.", projectLabels)
)

// complianceState is what the collector knows of a project's Backup Compliance Policy.
type complianceState struct {
	policy *atlas.CompliancePolicy // of the last successful read; nil: none
	read   bool                    // read successfully at least once
	tried  bool
	ok     bool // the last read succeeded
}

// compliance starts reading project id's policy, once per refresh and beside the cluster
// listing, and returns what waits for it; that returns nil when compliance_policy is off.
func (r *refresh) compliance(ctx context.Context, id string) func() *shared[*atlas.CompliancePolicy] {
	if !r.settings.CompliancePolicy {
		return func() *shared[*atlas.CompliancePolicy] { return nil }
	}
	l := sharedIn(r, r.policies, id)
	read := func() (*atlas.CompliancePolicy, error) {
		pol, err := r.fetcher.CompliancePolicy(ctx, id)
		r.note(err)
		return pol, err
	}
	go func() { _, _ = l.do(read) }()
	return func() *shared[*atlas.CompliancePolicy] {
		_, _ = l.do(read)
		return l
	}
}

// applyCompliance records a read of the project's policy; c.mu must be held.
func (r *refresh) applyCompliance(ps *projectState, l *shared[*atlas.CompliancePolicy]) {
	if l == nil || !r.c.settings.CompliancePolicy {
		return
	}
	c, p, cs := r.c, ps.project, &ps.compliance
	cs.tried, cs.ok = true, l.err == nil
	if ref := atlas.Refused(l.err); ref != nil {
		c.logChange(&ps.log, "compliance", ref, "msg", "Atlas refuses to show the Backup Compliance Policy; asking again at each discovery", "project_id", p.ID, "project", p.Name)
		return
	}
	c.logChange(&ps.log, "compliance", l.err, "msg", "Backup Compliance Policy collection", "project_id", p.ID, "project", p.Name)
	if l.err == nil {
		cs.policy, cs.read = l.val, true
	}
}

// collectCompliance sends a project's policy series.
func collectCompliance(ch chan<- prometheus.Metric, ps *projectState) {
	cs, p := ps.compliance, ps.project
	if !cs.tried {
		return
	}
	ch <- prometheus.MustNewConstMetric(familySuccess, prometheus.GaugeValue, b2f(cs.ok), p.ID, p.Name, "", "", familyCompliance)
	if !cs.read {
		return
	}
	pol := cs.policy
	ch <- prometheus.MustNewConstMetric(complianceEnabled, prometheus.GaugeValue, b2f(pol != nil && pol.InForce()), p.ID, p.Name)
	if pol == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(complianceInfo, prometheus.GaugeValue, 1, p.ID, p.Name, pol.State,
		strconv.FormatBool(pol.PITEnabled), strconv.FormatBool(pol.CopyProtectionEnabled), strconv.FormatBool(pol.EncryptionAtRestEnabled))
	if w := pol.RestoreWindow(); w > 0 {
		ch <- prometheus.MustNewConstMetric(complianceWindow, prometheus.GaugeValue, w.Seconds(), p.ID, p.Name)
	}
}
