package estate

import (
	"maps"
	"slices"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Refreshing reports whether a refresh is under way.
func (e *Engine) Refreshing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running != nil
}

// StateSize is how many entries the engine's maps hold.
func (e *Engine) StateSize() map[string]int {
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
		"notFound": len(e.notFound), "missing": len(e.missing), "clusterNames": clusterNames, "lastRequests": len(e.lastRequests)}
}

// LoggedTopics counts what the engine remembers having logged: in all, and about the project id
// and its targets.
func (e *Engine) LoggedTopics(id string) (all, about int) {
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

// Targets are the targets the engine keeps state for.
func (e *Engine) Targets() []atlas.Target {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Collect(maps.Keys(e.targets))
}

// Locked runs fn with the engine's lock held.
func (e *Engine) Locked(fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn()
}
