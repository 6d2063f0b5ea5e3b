package estate_test

import (
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv/rig"
)

// projectTargets counts the targets v shows of project id, and names the set its project is
// shown as read by ("" when it is not shown).
func projectTargets(v *estate.View, id string) (int, string) {
	n, by := 0, ""
	for _, tv := range v.Targets {
		if tv.Project.ID == id {
			n++
		}
	}
	for _, pv := range v.Projects {
		if pv.Project.ID == id {
			by = pv.Credentials
		}
	}
	return n, by
}

// A reload moves project-001 from billing (the first set, which read it) to ops (which
// selected it too, and left it to billing): billing's rediscovery, which the reload starts at
// once, drops it; ops, whose own entries did not change, must read it now, not at its next
// refresh a min_refresh_interval later: until then project-001's series are gone from /metrics.
func TestReviewProjectMovedBetweenSetsOnReload(t *testing.T) {
	o := rig.TwoOrgs(4, 2)
	o.PublicKey, o.PrivateKey = "ops", "ops-private"
	p0, p2 := atlastest.ProjectID(0), atlastest.ProjectID(2) // both billing's organisation's
	s := rig.TwoSets()
	s.Projects = []config.Project{{ID: p0, Credentials: "billing"}, {Name: "project-001", Credentials: "ops"}}
	e := rig.NewSets(t, o, s, map[string]atlas.Config{"ops": {APIKey: &atlas.APIKey{PublicKey: "ops", PrivateKey: "ops-private"}}})
	e.Refresh(t)
	e.Clock.Advance(time.Minute)
	e.Refresh(t) // ops drops what it read before it knew billing selects project-001
	if n, by := projectTargets(e.Engine.View(), p0); n != 2 || by != "billing" {
		t.Fatalf("before the reload: %d targets of project-001, read by %q; want 2 by billing", n, by)
	}

	moved := rig.TwoSets()
	moved.Projects = []config.Project{{ID: p2, Credentials: "billing"}, {Name: "project-001", Credentials: "ops"}}
	e.Reconfigure(moved)
	e.Engine.WaitIdle(t.Context())
	e.Refresh(t) // a scrape, within min_refresh_interval
	if n, by := projectTargets(e.Engine.View(), p0); n != 2 || by != "ops" {
		t.Errorf("after the reload: %d targets of project-001, read by %q; want 2 by ops", n, by)
	}
	if n, _ := projectTargets(e.Engine.View(), p2); n != 2 {
		t.Errorf("after the reload: %d targets of project-003, want billing's 2", n)
	}
}
