package estate_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
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
func TestProjectMovedBetweenSetsOnReloadIsReadAtOnce(t *testing.T) {
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

// A reload moves project-001 from billing (the first set) to ops, while billing's Atlas hangs on
// a cluster of billing's other project at every refresh, so that no refresh of billing is
// complete and none drops what billing read of project-001 before. ops reads project-001 fresh
// at each of its refreshes; the merged view must show ops's reads (the claims say ops reads it),
// not billing's leftovers, failed and frozen at the reload.
func TestMergeShowsTheSetThatReads(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a hanging organisation's refresh timeouts")
	}
	o := rig.TwoOrgs(4, 2)
	o.PublicKey, o.PrivateKey = "ops", "ops-private"
	p0, p2 := atlastest.ProjectID(0), atlastest.ProjectID(2) // both billing's organisation's
	s := rig.TwoSets()
	s.Projects = []config.Project{{ID: p0, Credentials: "billing"}, {ID: p2, Credentials: "billing"}, {Name: "project-001", Credentials: "ops"}}
	// A client timeout far past refresh_timeout: the refresh, not the client, gives up the hang.
	e := rig.NewSets(t, o, s, map[string]atlas.Config{"ops": {APIKey: &atlas.APIKey{PublicKey: "ops", PrivateKey: "ops-private"}}},
		func(c *atlas.Config) { c.Timeout = time.Minute })
	e.Refresh(t)
	e.Clock.Advance(time.Minute)
	e.Refresh(t)
	if n, by := projectTargets(e.Engine.View(), p0); n != 2 || by != "billing" {
		t.Fatalf("before the reload: %d targets of project-001, read by %q; want 2 by billing", n, by)
	}

	// project-003 gets a cluster whose snapshot listing never answers: billing's refreshes end
	// at refresh_timeout from now on.
	e.AddCluster(2, &atlastest.Cluster{Name: "stuck", Kind: atlastest.Flex})
	e.Srv.SetFault("*", "stuck", &atlastest.Fault{Hang: true})
	moved := rig.TwoSets()
	moved.RefreshTimeout = 2 * time.Second
	moved.Projects = []config.Project{{ID: p2, Credentials: "billing"}, {Name: "project-001", Credentials: "ops"}}
	e.Reconfigure(moved)
	e.Engine.WaitIdle(t.Context())
	e.Srv.Reset()
	for range 2 {
		e.Clock.Advance(time.Minute)
		e.Refresh(t)
	}
	// ops (the API key: digest) read project-001's two clusters at each of its two refreshes.
	read := 0
	for _, q := range e.Srv.Requests() {
		if q.Auth == "digest" && q.Status == http.StatusOK && strings.Contains(q.Path, p0) && strings.HasSuffix(q.Operation, "BackupSnapshots") {
			read++
		}
	}
	if read != 4 {
		t.Fatalf("ops read project-001's snapshots %d times, want 4", read)
	}
	v := e.Engine.View()
	if n, by := projectTargets(v, p0); n != 2 || by != "ops" {
		t.Errorf("after the reload: %d targets of project-001, shown as read by %q; want 2 by ops", n, by)
	}
	for _, tv := range v.Targets {
		if tv.Project.ID == p0 && (!tv.OK || !tv.FetchedAt.Equal(e.Clock.Now())) {
			t.Errorf("project-001/%s: ok %v, fetched at %s; ops read it at %s", tv.Target.Cluster, tv.OK, tv.FetchedAt, e.Clock.Now())
		}
	}
	// billing dropped what it read of project-001 although none of its refreshes was complete:
	// it keeps project-003 and its 3 targets, ops project-001 and its 2.
	if got := e.Engine.StateSize(); got["projects"] != 2 || got["targets"] != 5 {
		t.Errorf("the sets keep %d projects and %d targets, want 2 and 5", got["projects"], got["targets"])
	}
}

// billing and ops (a service account and an API key of one organisation) both select
// project-001; billing, first, reads it. billing's service account is revoked: its refreshes
// fail with 401, and it gives up its claims until its entries resolve again, so ops, whose key
// works, reads project-001 from its next refresh: one set's revoked key never fails a project
// another set selects and can read.
func TestRefusedSetLeavesItsOverlapToAnother(t *testing.T) {
	o := rig.TwoOrgs(2, 2)
	o.PublicKey, o.PrivateKey = "ops", "ops-private"
	p0 := atlastest.ProjectID(0)
	s := rig.TwoSets()
	s.Projects = []config.Project{{DiscoverAllProjects: true, Credentials: "billing"}, {DiscoverAllProjects: true, Credentials: "ops"}}
	e := rig.NewSets(t, o, s, map[string]atlas.Config{"ops": {APIKey: &atlas.APIKey{PublicKey: "ops", PrivateKey: "ops-private"}}})
	e.Refresh(t)
	e.Clock.Advance(time.Minute)
	e.Refresh(t)
	if n, by := projectTargets(e.Engine.View(), p0); n != 2 || by != "billing" {
		t.Fatalf("before the revocation: %d targets of project-001, read by %q; want 2 by billing", n, by)
	}

	e.Srv.SetCredentials("", "", "ops", "ops-private") // billing's service account revoked
	e.Clock.Advance(time.Minute)
	e.Refresh(t) // billing learns that its credentials are refused
	e.Srv.Reset()
	e.Clock.Advance(time.Minute)
	e.Refresh(t)
	v := e.Engine.View()
	if got := fmt.Sprint(v.Credentials); got != fmt.Sprintf("[{billing false %s true 0s} {ops true %s true 0s}]", rig.Now.Add(time.Minute), e.Clock.Now()) {
		t.Errorf("credentials %s", got)
	}
	read := 0
	for _, q := range e.Srv.Requests() {
		if q.Auth == "digest" && q.Status == http.StatusOK && strings.HasSuffix(q.Operation, "BackupSnapshots") {
			read++
		}
	}
	if read != 2 {
		t.Errorf("ops read project-001's snapshots %d times in its refresh, want 2", read)
	}
	for _, tv := range v.Targets {
		if tv.Project.ID == p0 && !tv.OK {
			t.Errorf("project-001/%s failed: ops, which selects it, was not let read it", tv.Target.Cluster)
		}
	}
	if n, by := projectTargets(v, p0); n != 2 || by != "ops" || len(v.Overlaps) != 0 {
		t.Errorf("%d targets of project-001, read by %q, overlaps %v; want 2 by ops, none", n, by, v.Overlaps)
	}
}

// The merged view's Health.Phases counts every set's snapshot phases, and never goes back:
// billing and eu-unit end one each (2), a reload removes eu-unit and changes billing's
// selection, whose refresh, started at once, ends billing's second: 3, though the sets running
// now ended 2. The collector renders a version that ends a snapshot phase at once (the scrapes
// that waited for the refresh are owed it) by comparing Phases with the last body's: a scrape
// right after billing's refresh gets the body of the reloaded configuration, not the one from
// before (eu-unit's series, billing's old selection).
func TestPhasesNeverGoBackWhenAReloadRemovesASet(t *testing.T) {
	e := rig.NewSets(t, rig.TwoOrgs(4, 2), rig.TwoSets(), rig.TwoSetsCreds())
	e.Refresh(t)
	if b := e.Coll.Exposition(t.Context(), true); b.Version != e.Engine.View().Version {
		t.Fatalf("rendered version %d, view %d", b.Version, e.Engine.View().Version)
	}
	s := rig.TwoSets()
	s.Projects = []config.Project{{ID: atlastest.ProjectID(0), Credentials: "billing"}}
	e.Reconfigure(s)
	e.Engine.WaitIdle(t.Context()) // billing's rediscovery: its snapshot phase ends
	v := e.Engine.View()
	if len(v.Credentials) != 1 || len(v.Targets) != 2 || v.Health.Phases != 3 {
		t.Fatalf("after the reload: credentials %v, %d targets, %d phases (want 3)", v.Credentials, len(v.Targets), v.Health.Phases)
	}
	// The clock has not moved: only a phase end makes the collector render now.
	if b := e.Coll.Exposition(t.Context(), false); b.Version != v.Version {
		t.Errorf("a scrape after billing's refresh got version %d, rendered before the reload; the view is at %d (phases %d)",
			b.Version, v.Version, v.Health.Phases)
	}
}

// billing and ops both select project-001, each a different cluster of it: billing its Cloud
// Backup cluster, ops its Flex cluster and one Atlas does not have. The project is read once, by
// billing, with both sets' entries: each cluster is read once per refresh and shown, and ops's
// cluster that does not exist is reported missing from billing's listing.
func TestOverlapReadsEverySetsTargets(t *testing.T) {
	o := rig.TwoOrgs(2, 2)
	o.PublicKey, o.PrivateKey = "ops", "ops-private"
	p0 := atlastest.ProjectID(0)
	s := rig.TwoSets()
	s.Projects = []config.Project{{ID: p0, Clusters: []string{"dedicated-01"}, Credentials: "billing"},
		{Name: "project-001", Clusters: []string{"flex-02", "flex-09"}, Credentials: "ops"}}
	e := rig.NewSets(t, o, s, map[string]atlas.Config{"ops": {APIKey: &atlas.APIKey{PublicKey: "ops", PrivateKey: "ops-private"}}})
	e.Refresh(t)
	for range 2 {
		e.Srv.Reset()
		e.Clock.Advance(time.Minute)
		e.Refresh(t)
	}
	v := e.Engine.View()
	var targets []string
	for _, tv := range v.Targets {
		targets = append(targets, tv.Project.Name+"/"+tv.Target.Cluster)
	}
	if want := []string{"project-001/dedicated-01", "project-001/flex-02"}; !slices.Equal(targets, want) {
		t.Errorf("targets %q, want %q", targets, want)
	}
	if n, by := projectTargets(v, p0); n != 2 || by != "billing" {
		t.Errorf("%d targets of project-001, read by %q; want 2 by billing", n, by)
	}
	if want := []estate.MissingTarget{{Project: "project-001", Cluster: "flex-09"}}; !slices.Equal(v.Missing, want) {
		t.Errorf("missing %v, want %v", v.Missing, want)
	}
	for op, want := range map[string]int{"listGroupClusterBackupSnapshots": 1, "listGroupFlexClusterBackupSnapshots": 1} {
		if n := e.Srv.Count(op); n != want {
			t.Errorf("%s sent %d times in the last refresh, want %d", op, n, want)
		}
	}
}

// A reload that adds a credential set (a new organisation) to a running, ready exporter starts
// the set's first refresh at once, as the exporter's start does, and the exporter stays ready
// (/-/ready, which takes the pod out of its Service when it fails) while it runs: here eu-unit's
// Atlas hangs, so its first refresh lasts until refresh_timeout.
func TestReloadAddingASetStartsItAndKeepsTheExporterReady(t *testing.T) {
	e := rig.NewSets(t, rig.TwoOrgs(4, 2), rig.TwoSets(), rig.TwoSetsCreds())
	s := rig.TwoSets()
	s.Projects = s.Projects[:1]
	e.Reconfigure(s)
	e.Refresh(t)
	if !e.Engine.Ready() {
		t.Fatal("billing alone is not ready after its refresh")
	}
	e.Srv.SetOrgFault(rig.OrgB, "*", "", &atlastest.Fault{Hang: true})
	added := rig.TwoSets()
	added.RefreshTimeout = time.Second
	e.Reconfigure(added)
	if !e.Engine.Ready() {
		t.Error("unready while the added set's first refresh runs")
	}
	e.Engine.WaitIdle(t.Context())
	// No scrape came: the reload started eu-unit's refresh, which ended at refresh_timeout.
	if got := fmt.Sprint(e.Engine.View().Credentials); got != fmt.Sprintf("[{billing true %s true 0s} {eu-unit false %s true 0s}]", rig.Now, time.Time{}) {
		t.Errorf("credentials %s", got)
	}
}
