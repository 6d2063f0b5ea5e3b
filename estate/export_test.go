package estate

import (
	"context"
	"maps"
	"slices"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Refreshing reports whether a refresh of some set is under way.
func (e *Engine) Refreshing() bool {
	return slices.ContainsFunc(e.running(), (*setEngine).refreshing)
}

func (e *setEngine) refreshing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running != nil
}

// StateSize is how many entries the sets' engines' maps hold, added up.
func (e *Engine) StateSize() map[string]int {
	out := map[string]int{}
	for _, se := range e.running() {
		for k, n := range se.stateSize() {
			out[k] += n
		}
	}
	return out
}

func (e *setEngine) stateSize() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	clusterNames, indexed := 0, 0
	for _, names := range e.clusterNames {
		clusterNames += len(names)
	}
	for _, of := range e.byProject {
		indexed += len(of)
	}
	return map[string]int{"entries": len(e.entries), "projects": len(e.projects), "targets": len(e.targets), "indexed": indexed,
		"notFound": len(e.notFound), "missing": len(e.missing), "clusterNames": clusterNames, "lastRequests": len(e.lastRequests),
		"orgs": len(e.orgs)}
}

// LoggedTopics counts what the sets' engines remember having logged: in all, and about the
// project id and its targets.
func (e *Engine) LoggedTopics(id string) (all, about int) {
	for _, se := range e.running() {
		a, b := se.loggedTopics(id)
		all, about = all+a, about+b
	}
	return all, about
}

func (e *setEngine) loggedTopics(id string) (all, about int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	all = len(e.log.last)
	for _, es := range e.entries {
		all += len(es.log.last)
	}
	for pid, ps := range e.projects {
		all += len(ps.log.last)
		if pid == id {
			about += len(ps.log.last)
		}
	}
	for t, ts := range e.targets {
		all += len(ts.log.last)
		if t.ProjectID == id {
			about += len(ts.log.last)
		}
	}
	return all, about
}

// Targets are the targets the sets' engines keep state for.
func (e *Engine) Targets() []atlas.Target {
	var out []atlas.Target
	for _, se := range e.running() {
		se.mu.Lock()
		out = append(out, slices.Collect(maps.Keys(se.targets))...)
		se.mu.Unlock()
	}
	return out
}

// Locked runs fn with every set's engine's lock held.
func (e *Engine) Locked(fn func()) {
	sets := e.running()
	for _, se := range sets {
		se.mu.Lock()
	}
	defer func() {
		for _, se := range sets {
			se.mu.Unlock()
		}
	}()
	fn()
}

// Refresh is Engine.Refresh for one set's engine.
func (e *setEngine) Refresh(ctx context.Context) {
	if done := e.begin(); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}
