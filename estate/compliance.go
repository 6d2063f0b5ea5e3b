package estate

import (
	"context"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// complianceState is what the engine knows of a project's Backup Compliance Policy.
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

// applyCompliance records a read of the project's policy, unless a reload turned
// compliance_policy off since the refresh started; e.mu must be held.
func (r *refresh) applyCompliance(ps *projectState, l *shared[*atlas.CompliancePolicy]) {
	if l == nil || !r.live().CompliancePolicy {
		return
	}
	e, p, cs := r.e, ps.project, &ps.compliance
	cs.tried, cs.ok = true, l.err == nil
	if ref := atlas.Refused(l.err); ref != nil {
		e.logChange(&ps.log, topicCompliance, ref, "msg", "Atlas refuses to show the Backup Compliance Policy; asking again at each discovery", "project_id", p.ID, "project", p.Name)
		return
	}
	e.logChange(&ps.log, topicCompliance, l.err, "msg", "Backup Compliance Policy collection", "project_id", p.ID, "project", p.Name)
	if l.err == nil {
		cs.policy, cs.read = l.val, true
	}
}
