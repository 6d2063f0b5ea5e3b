package estate

import (
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// entryState is what a project selector of the configuration resolved to.
type entryState struct {
	projects []atlas.Project
	resolved bool // resolved at least once
	absent   bool // Atlas said the configured project does not exist
	again    bool // resolve again at the next refresh
	log      logBook
}

// projectState is what the engine knows of one project.
type projectState struct {
	project atlas.Project
	// The clusters of the last successful listing, as a set of names and sorted by name (as
	// atlas.ClusterList keeps them): what each configuration entry reads in the project is
	// worked out from them at every refresh.
	names    map[string]bool
	clusters []atlas.Cluster
	// selected are the clusters some entry selects, as of the last refresh that finished.
	selected     map[string]atlas.Cluster
	listed       bool // a listing succeeded at least once
	listedCycle  int  // cycle of the last successful listing
	ok           bool
	discoveredAt time.Time
	serverless   *atlas.GoneError
	rediscover   bool // list the project's clusters again at the next refresh
	seen         int
	compliance   complianceState
	// refused holds, per refusal scope, when Atlas last refused it in this project (403): roles
	// are per project, so one cluster asks again per jobs_interval, not all.
	refused map[atlas.RefusalScope]time.Time
	log     logBook

	// view is the project as the last View showed it; nil once it (or one of its targets, for
	// the backup kind of its clusters) changed.
	view *ProjectView
}

// targetState is what the engine knows of one target, as configured (the key of
// Engine.targets): served is the target actually read.
type targetState struct {
	project     atlas.Project
	served      atlas.Target
	snapshots   []atlas.Snapshot // newest first: the first future of them Atlas dates in the future
	future      int
	schedule    *atlas.Schedule // Cloud Backup policy; nil for other kinds or before it was read
	scheduleAt  time.Time       // when schedule was read; zero forces a read
	gone        []*atlas.GoneError
	restores    jobsState[atlas.RestoreJob]
	exports     jobsState[atlas.ExportJob]
	pit         bool // continuous backup is on: the schedule's restore window applies
	hasData     bool
	fetchedAt   time.Time
	ok          bool
	seen        int
	unknownSeen map[string]bool
	// implausible is what checkSnapshots logged of the snapshots last read.
	implausible map[string]bool
	tamper      tamperState
	log         logBook

	// view is the target as the last View showed it; nil once it changed.
	view *TargetView
}

// changed says that what the View shows of ts changed: its view and its project's are built
// anew, under a new version. e.mu must be held.
func (e *setEngine) changed(t atlas.Target, ts *targetState) {
	ts.view = nil
	if ps := e.projects[t.ProjectID]; ps != nil {
		ps.view = nil
	}
	e.newVersion()
}

// projectChanged says that what the View shows of ps changed. e.mu must be held.
func (e *setEngine) projectChanged(ps *projectState) {
	ps.view = nil
	e.newVersion()
}

// addTarget returns the state of target t of project p, created on first use. e.mu must be
// held.
func (e *setEngine) addTarget(t atlas.Target, p atlas.Project) *targetState {
	ts := e.targets[t]
	if ts != nil {
		return ts
	}
	ts = &targetState{project: p, served: t, unknownSeen: map[string]bool{}}
	e.targets[t] = ts
	of := e.byProject[t.ProjectID]
	if of == nil {
		of = map[atlas.Target]*targetState{}
		e.byProject[t.ProjectID] = of
	}
	of[t] = ts
	e.changed(t, ts)
	return ts
}

// dropTarget forgets target t and everything kept by it: its state, with what was logged
// about it and its view, and what Atlas said of its existence (notFound). It is the one way a
// target goes. e.mu must be held.
func (e *setEngine) dropTarget(t atlas.Target) {
	if ts := e.targets[t]; ts != nil {
		e.changed(t, ts)
	}
	delete(e.targets, t)
	delete(e.notFound, t)
	if of := e.byProject[t.ProjectID]; of != nil {
		delete(of, t)
		if len(of) == 0 {
			delete(e.byProject, t.ProjectID)
		}
	}
}

// dropProject forgets project id, its targets and everything kept by them: the one way a
// project goes. e.mu must be held.
func (e *setEngine) dropProject(id string) {
	for t := range e.byProject[id] {
		e.dropTarget(t)
	}
	delete(e.projects, id)
	e.newVersion()
}
