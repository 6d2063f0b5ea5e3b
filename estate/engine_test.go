package estate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// TestPlan: what a refresh discovers, from what the engine knows when it starts.
func TestPlan(t *testing.T) {
	listed := func(rediscover bool) *projectState { return &projectState{listed: true, rediscover: rediscover} }
	for _, tc := range []struct {
		name         string
		discoveredAt time.Time
		rediscover   bool
		projects     map[string]*projectState
		entries      map[string]*entryState
		full         bool
		projectsDue  []string
		entriesDue   []string
	}{
		{name: "first refresh", full: true},
		{name: "discovery interval passed", discoveredAt: stubNow.Add(-time.Hour), full: true},
		{name: "a project was not found", discoveredAt: stubNow.Add(-time.Minute), rediscover: true, full: true},
		{name: "nothing due", discoveredAt: stubNow.Add(-59 * time.Minute),
			projects: map[string]*projectState{"a": listed(false)}, entries: map[string]*entryState{"id=a": {resolved: true}}},
		{name: "a project to rediscover, one never listed", discoveredAt: stubNow.Add(-time.Minute),
			projects: map[string]*projectState{"a": listed(true), "b": {}, "c": listed(false)}, projectsDue: []string{"a", "b"}},
		{name: "selectors to resolve again, or never resolved", discoveredAt: stubNow.Add(-time.Minute),
			entries: map[string]*entryState{"id=a": {resolved: true, again: true}, "name=b": {}, "name=c": {resolved: true}}, entriesDue: []string{"id=a", "name=b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSetEngine(t.Context(), nil, "", newStub(), allOn(), func() time.Time { return stubNow }, nil, make(chan struct{}, 1))
			e.discoveredAt, e.rediscover = tc.discoveredAt, tc.rediscover
			if tc.projects != nil {
				e.projects = tc.projects
			}
			if tc.entries != nil {
				e.entries = tc.entries
			}
			r := &refresh{e: e, settings: e.settings, start: stubNow}
			r.plan()
			if r.full != tc.full || fmt.Sprint(slices.Sorted(maps.Keys(r.dueProjects))) != fmt.Sprint(tc.projectsDue) ||
				fmt.Sprint(slices.Sorted(maps.Keys(r.dueEntries))) != fmt.Sprint(tc.entriesDue) {
				t.Errorf("full %t, projects %v, selectors %v; want %t, %v, %v", r.full, slices.Sorted(maps.Keys(r.dueProjects)),
					slices.Sorted(maps.Keys(r.dueEntries)), tc.full, tc.projectsDue, tc.entriesDue)
			}
			if e.rediscover {
				t.Error("the rediscovery stays due after the refresh that does it")
			}
		})
	}
}

// TestRefreshes: what successive refreshes ask, from full discovery to the steady state. Every
// target asks for its schedule and job listings where it has none: the kind it is served as is
// known once it is read, and the fetcher reads only what that kind has.
func TestRefreshes(t *testing.T) {
	r := newRig(t, allOn())
	discovery := []string{"clusters " + pA.ID, "clusters " + pB.ID, "policy " + pA.ID, "policy " + pB.ID, "projects"}
	for _, step := range []struct {
		name    string
		advance time.Duration
		want    []string
	}{
		{"first: full discovery, every schedule and job listing", 0, append(discovery,
			"read db/cloud schedule=true restores=true exports=true", "read fx/flex schedule=true restores=true exports=true",
			"read fy/flex schedule=true restores=true exports=true")},
		{"steady: the change detector and the snapshots", 0, []string{"names",
			"read db/cloud schedule=false restores=false exports=false", "read fx/flex schedule=true restores=false exports=true",
			"read fy/flex schedule=true restores=false exports=true"}},
		{"jobs_interval later", 30 * time.Minute, []string{"names",
			"read db/cloud schedule=false restores=true exports=true", "read fx/flex schedule=true restores=true exports=true",
			"read fy/flex schedule=true restores=true exports=true"}},
		{"the schedule's next snapshot due, and a full discovery", 7 * time.Hour, append(discovery,
			"read db/cloud schedule=true restores=true exports=true", "read fx/flex schedule=true restores=true exports=true",
			"read fy/flex schedule=true restores=true exports=true")},
	} {
		r.clock.advance(step.advance)
		r.refresh(t)
		if got := r.f.took(); !slices.Equal(got, step.want) {
			t.Errorf("%s:\n got %q\nwant %q", step.name, got, step.want)
		}
	}
}

// TestScheduleAndJobsDue: whether a target's read asks for its schedule and job listings, from
// what the engine kept of it and its project.
func TestScheduleAndJobsDue(t *testing.T) {
	cloud := atlas.Target{ProjectID: pA.ID, Cluster: "db", Kind: atlas.KindCloud}
	restores := atlas.RefusalScope{Jobs: atlas.RestoreJobKind, Kind: atlas.KindCloud}
	for _, tc := range []struct {
		name    string
		ts      targetState
		refused map[atlas.RefusalScope]time.Time
		probed  bool // another target of the project asked this refresh
		want    string
	}{
		{name: "never read", want: "schedule=true restores=true exports=true"},
		{name: "read a minute ago", ts: targetState{schedule: &atlas.Schedule{NextSnapshot: stubNow.Add(time.Hour)}, scheduleAt: stubNow.Add(-time.Minute),
			restores: jobsState[atlas.RestoreJob]{jobsMeta: jobsMeta{at: stubNow.Add(-time.Minute)}}, exports: jobsState[atlas.ExportJob]{jobsMeta: jobsMeta{at: stubNow.Add(-time.Minute)}}},
			want: "schedule=false restores=false exports=false cached"},
		{name: "next snapshot due, jobs_interval passed", ts: targetState{schedule: &atlas.Schedule{NextSnapshot: stubNow}, scheduleAt: stubNow.Add(-time.Hour),
			restores: jobsState[atlas.RestoreJob]{jobsMeta: jobsMeta{at: stubNow.Add(-30 * time.Minute)}}, exports: jobsState[atlas.ExportJob]{jobsMeta: jobsMeta{at: stubNow.Add(-29 * time.Minute)}}},
			want: "schedule=true restores=true exports=false"},
		{name: "restores refused a minute ago", refused: map[atlas.RefusalScope]time.Time{restores: stubNow.Add(-time.Minute)},
			want: "schedule=true restores=false exports=true"},
		{name: "restores refused jobs_interval ago: this target probes", refused: map[atlas.RefusalScope]time.Time{restores: stubNow.Add(-30 * time.Minute)},
			want: "schedule=true restores=true exports=true"},
		{name: "restores refused jobs_interval ago, another target probed", refused: map[atlas.RefusalScope]time.Time{restores: stubNow.Add(-30 * time.Minute)}, probed: true,
			want: "schedule=true restores=false exports=true"},
		{name: "refused for Flex only", refused: map[atlas.RefusalScope]time.Time{{Jobs: atlas.RestoreJobKind, Kind: atlas.KindFlex}: stubNow},
			want: "schedule=true restores=true exports=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSetEngine(t.Context(), nil, "", newStub(), allOn(), func() time.Time { return stubNow }, nil, make(chan struct{}, 1))
			e.projects[pA.ID] = &projectState{project: pA, refused: tc.refused}
			ts := tc.ts
			ts.project, ts.served, ts.unknownSeen = pA, cloud, map[string]bool{}
			e.targets[cloud] = &ts
			r := &refresh{e: e, settings: e.settings, cycle: 2}
			if tc.probed {
				r.probed = map[probe]bool{{pA.ID, restores}: true}
			}
			reads := r.reads(pA, []atlas.TargetRead{{Target: cloud}})
			got := fmt.Sprintf("schedule=%t restores=%t exports=%t", reads[0].Schedule, reads[0].RestoreJobs, reads[0].ExportJobs)
			if reads[0].Cached != nil {
				got += " cached"
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			// A refused listing shows as failing, without a read.
			if refused := tc.refused[restores]; !refused.IsZero() && !reads[0].RestoreJobs && (!ts.restores.tried || ts.restores.ok) {
				t.Error("a listing not asked for because Atlas refuses it does not show as failing")
			}
		})
	}
}

// TestShardOwnership: each shard reads the projects whose id hashes to it, and nothing else.
func TestShardOwnership(t *testing.T) {
	seen := map[string]int{}
	for index := range 2 {
		s := allOn()
		s.Shard = Shard{Index: index, Total: 2}
		r := newRig(t, s)
		r.refresh(t)
		v := r.e.View()
		for _, p := range v.Projects {
			if ShardOf(p.Project.ID, 2) != index {
				t.Errorf("shard %d shows project %s of shard %d", index, p.Project.ID, ShardOf(p.Project.ID, 2))
			}
			seen[p.Project.ID]++
		}
		for _, call := range r.f.took() {
			for _, p := range []atlas.Project{pA, pB} {
				if strings.HasSuffix(call, p.ID) && ShardOf(p.ID, 2) != index {
					t.Errorf("shard %d called %q", index, call)
				}
			}
		}
		if v.Health.Shard != s.Shard {
			t.Errorf("view of shard %d says %+v", index, v.Health.Shard)
		}
	}
	if seen[pA.ID] != 1 || seen[pB.ID] != 1 {
		t.Errorf("projects shown by the shards: %v; want each once", seen)
	}
}

// TestMissing: configured targets Atlas does not show, from definite answers only.
func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		projects []config.Project
		setup    func(*stub)
		want     []MissingTarget
	}{
		{"all there", []config.Project{{ID: pA.ID, Clusters: []string{"db"}}}, nil, nil},
		{"a project and a cluster", []config.Project{{Name: "gamma"}, {ID: pA.ID, Clusters: []string{"db", "nope"}}}, nil,
			[]MissingTarget{{Project: pA.ID, Cluster: "nope"}, {Project: "gamma"}}},
		{"a listing that fails says nothing", []config.Project{{ID: pA.ID, Clusters: []string{"nope"}}},
			func(f *stub) { f.listErr[pA.ID] = errors.New("HTTP 503") }, nil},
		{"a cluster no discovered project holds", []config.Project{{DiscoverAllProjects: true, Clusters: []string{"nowhere"}}}, nil,
			[]MissingTarget{{Cluster: "nowhere"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := allOn()
			s.Projects = tc.projects
			r := newRig(t, s)
			if tc.setup != nil {
				tc.setup(r.f)
			}
			r.refresh(t)
			if got := r.e.View().Missing; !slices.Equal(got, tc.want) {
				t.Errorf("missing %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDrops: a target or project Atlas says is gone, or a refresh no longer sees, goes with
// everything kept by it: its state, its index entry, what was logged about it, its view.
func TestDrops(t *testing.T) {
	fx := atlas.Target{ProjectID: pA.ID, Cluster: "fx", Kind: atlas.KindFlex}
	for _, tc := range []struct {
		name    string
		change  func(*stub)
		advance time.Duration
		targets string
	}{
		{"a cluster Atlas says is gone", func(f *stub) {
			f.readErr[fx] = &atlas.Error{StatusCode: 404, ErrorCode: "FLEX_CLUSTER_NOT_FOUND"}
			f.clusters[pA.ID] = f.clusters[pA.ID][:1]
		}, time.Minute, "db/cloud true, fy/flex true"},
		{"a project Atlas says is gone", func(f *stub) {
			f.readErr[fx] = &atlas.Error{StatusCode: 404, ErrorCode: "GROUP_NOT_FOUND"}
			f.projects = f.projects[1:]
		}, time.Minute, "fy/flex true"},
		{"a cluster discovery no longer lists", func(f *stub) { f.clusters[pA.ID] = f.clusters[pA.ID][:1] },
			time.Hour, "db/cloud true, fy/flex true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, allOn())
			// fx fails once: that is logged, and kept about it.
			r.f.readErr[fx] = errors.New("HTTP 500")
			r.refresh(t)
			if _, about := r.e.loggedTopics(pA.ID); about != 1 {
				t.Fatalf("%d topics logged about alpha, want 1", about)
			}
			tc.change(r.f)
			r.clock.advance(tc.advance)
			for range 2 {
				r.refresh(t)
				if got := targets(r.e.View()); got != tc.targets {
					t.Errorf("targets %s, want %s", got, tc.targets)
				}
				if _, about := r.e.loggedTopics(pA.ID); about != 0 {
					t.Errorf("%d topics kept about alpha and its targets, want 0", about)
				}
				if size := r.e.stateSize(); size["indexed"] != size["targets"] {
					t.Errorf("state %v: the index does not hold the targets", size)
				}
			}
		})
	}
}

// TestVersions: every delivery makes a new version at once, a view is built once per version,
// and a target's view is the same value until the target changes.
func TestVersions(t *testing.T) {
	s := allOn()
	s.Projects = []config.Project{{ID: pA.ID}} // one project: its targets are delivered one after the other
	r := newRig(t, s)
	r.refresh(t)
	first := r.e.View()
	if again := r.e.View(); again != first {
		t.Error("two calls at one version built two views")
	}
	// Each delivery signals a new version too (a renderer waits for it).
	var versions []uint64
	signals := 0
	drain := func() {
		select {
		case <-r.changes:
			signals++
		default:
		}
	}
	drain()
	signals = 0
	r.f.between = func() {
		drain()
		versions = append(versions, r.e.View().Version)
	}
	fx := atlas.Target{ProjectID: pA.ID, Cluster: "fx", Kind: atlas.KindFlex}
	r.f.readErr[fx] = errors.New("HTTP 500")
	r.refresh(t)
	if len(versions) != 2 || versions[0] <= first.Version || versions[1] <= versions[0] || signals != 2 {
		t.Errorf("versions seen after each of 2 deliveries %v (the refresh before: %d), %d signalled; want each new and signalled", versions, first.Version, signals)
	}
	last := r.e.View()
	byCluster := func(v *View) map[string]*TargetView {
		m := map[string]*TargetView{}
		for _, tv := range v.Targets {
			m[tv.Target.Cluster] = tv
		}
		return m
	}
	before, after := byCluster(first), byCluster(last)
	if before["fx"] == after["fx"] || after["fx"].OK {
		t.Error("the target whose read failed has the view it had before")
	}
	// db and fx were read again too, with what they had: a delivery is a change all the same.
	if after["db"].Snapshots[0].ID != "s-db" || !after["db"].OK {
		t.Errorf("db's view: %+v", after["db"])
	}
	// A view built but not changed since is the same value in the next version.
	drain()
	signals = 0
	r.e.Reconfigure(r.f, r.e.settings)
	drain()
	if next := r.e.View(); next.Version == last.Version || byCluster(next)["db"] != after["db"] || signals != 1 {
		t.Error("a reload that changed nothing of db rebuilt its view, or made no new version, or did not signal it")
	}
}

// TestSnapshotPhaseReleasesTheScrape: Refresh returns once every target's snapshots are in,
// with the job reads still waiting; their results come in later views; a Refresh meanwhile
// starts no refresh.
func TestSnapshotPhaseReleasesTheScrape(t *testing.T) {
	r := newRig(t, allOn())
	r.f.hold = make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	phases := r.e.View().Health.Phases
	r.e.Refresh(ctx)
	if ctx.Err() != nil {
		t.Fatal("Refresh waited for the job reads")
	}
	v := r.e.View()
	if got := targets(v); got != "db/cloud true, fx/flex true, fy/flex true" || !v.Health.Ready || !v.Health.Up || v.Health.Phases != phases+1 {
		t.Errorf("after the snapshot phase: targets %s, ready %t, up %t, %d phases ended (before: %d)", got, v.Health.Ready, v.Health.Up, v.Health.Phases, phases)
	}
	for _, tv := range v.Targets {
		if tv.Restores.Tried {
			t.Errorf("%s: restore jobs shown before they were read", tv.Target.Cluster)
		}
	}
	if !r.e.refreshing() {
		t.Error("the refresh ended before its job reads")
	}
	r.f.took()
	r.clock.advance(time.Hour)
	r.e.Refresh(ctx)
	if calls := r.f.took(); len(calls) != 0 {
		t.Errorf("a Refresh during the job reads called %q", calls)
	}
	close(r.f.hold)
	r.e.WaitIdle(ctx)
	after := r.e.View()
	if after.Version == v.Version || after.Health.Phases != v.Health.Phases {
		t.Error("the job reads made no new version, or ended a snapshot phase")
	}
	for _, tv := range after.Targets {
		if !tv.Restores.Read || !tv.Restores.OK {
			t.Errorf("%s: restore jobs %+v after the job reads", tv.Target.Cluster, tv.Restores)
		}
	}
	if after.Health.LastRequests == nil || r.e.refreshing() {
		t.Errorf("the refresh did not end with its job reads: requests %v", after.Health.LastRequests)
	}
}

// TestUnchangedSnapshotsKeepTheirSlice: a read that lists the snapshots the last one did keeps
// the slice the views share (a renderer keeps what it made of it), and one that lists other
// snapshots brings its own; the target's view is new either way.
func TestUnchangedSnapshotsKeepTheirSlice(t *testing.T) {
	r := newRig(t, allOn())
	listed := []atlas.Snapshot{
		{ID: "s1", Status: atlas.StatusCompleted, CreatedAt: stubNow.Add(-time.Hour), CopyRegions: []string{"EU_WEST_1"}},
		{ID: "s0", Status: atlas.StatusCompleted, CreatedAt: stubNow.Add(-2 * time.Hour), HasSize: true, SizeBytes: 10},
	}
	r.f.snapshots = map[string][]atlas.Snapshot{"db": listed}
	db := func() *TargetView {
		for _, tv := range r.e.View().Targets {
			if tv.Target.Cluster == "db" {
				return tv
			}
		}
		t.Fatal("no db")
		return nil
	}
	r.refresh(t)
	first := db()
	r.refresh(t)
	second := db()
	if second == first || &second.Snapshots[0] != &first.Snapshots[0] || len(second.Snapshots) != 2 {
		t.Error("a read of the same snapshots did not keep their slice (or made no new view)")
	}
	changed := slices.Clone(listed)
	changed[0].CopyRegions = []string{"EU_WEST_1", "US_EAST_1"}
	r.f.mu.Lock()
	r.f.snapshots["db"] = changed
	r.f.mu.Unlock()
	r.refresh(t)
	if third := db(); &third.Snapshots[0] == &second.Snapshots[0] || !slices.Equal(third.Snapshots[0].CopyRegions, changed[0].CopyRegions) {
		t.Error("a read of other snapshots kept the old slice")
	}
}

// TestSameSnapshotComparesEveryField: two snapshots differing in any one field are not the
// same (a field added to atlas.Snapshot must be compared too).
func TestSameSnapshotComparesEveryField(t *testing.T) {
	base := atlas.Snapshot{ID: "s", Status: atlas.StatusCompleted, RawStatus: "completed", CreatedAt: stubNow, ExpiresAt: stubNow.Add(time.Hour),
		SizeBytes: 1, HasSize: true, InvalidSize: -1, Type: "scheduled", Frequency: "daily", MongoDBVersion: "8.0", CopyRegions: []string{"A"}}
	if !sameSnapshot(base, base) {
		t.Fatal("a snapshot is not the same as itself")
	}
	typ := reflect.TypeFor[atlas.Snapshot]()
	for i := range typ.NumField() {
		other := base
		f := reflect.ValueOf(&other).Elem().Field(i)
		switch v := f.Addr().Interface().(type) {
		case *string:
			*v += "x"
		case *atlas.Status:
			*v = atlas.StatusFailed
		case *time.Time:
			*v = v.Add(time.Second)
		case *int64:
			*v++
		case *bool:
			*v = !*v
		case *[]string:
			*v = []string{"B"}
		default:
			t.Fatalf("atlas.Snapshot.%s is of a type this test does not change: compare it in sameSnapshot and here", typ.Field(i).Name)
		}
		if sameSnapshot(base, other) {
			t.Errorf("snapshots differing in %s are the same", typ.Field(i).Name)
		}
	}
}
