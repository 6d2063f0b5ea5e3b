package estate

import (
	"cmp"

	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// MissingTarget is a configured target Atlas does not show: a project (Cluster and Kind empty),
// a cluster in it (Kind empty), or a kind a cluster Atlas lists cannot be read as. Project is
// the selector as configured (name or id), or the project's name for discover_all_projects.
//
// With several shards, each missing target is reported by one: the shard of its project, or,
// for a project Atlas does not show, of the name or id it is configured by, and for a cluster
// no project holds, of the empty key.
type MissingTarget struct{ Project, Cluster, Kind string }

// updateMissing works out which targets s configures that Atlas does not show, from what
// discovery and the snapshot reads found, and logs each when it starts and when it ends
// missing. Only definite answers count (a project or cluster absent from a listing that
// succeeded, a 404 naming it): a failing call says nothing about existence. e.mu must be held.
func (e *setEngine) updateMissing(s Settings) {
	now := map[MissingTarget]bool{}
	planned := map[atlas.Target]bool{}
	for _, entry := range s.Projects {
		es := e.entries[entry.Selector()]
		if es == nil || !es.resolved {
			continue
		}
		label := entry.Name
		if entry.ID != "" {
			label = entry.ID
		}
		if es.absent {
			if s.Shard.owns(label) {
				now[MissingTarget{Project: label}] = true
			}
			continue
		}
		for _, name := range entry.Clusters {
			// A project of another shard is known through the all-projects cluster listing.
			found, known, owner := false, true, ""
			for _, p := range es.projects {
				names := e.clusterNames[p.ID]
				if theirs, other := e.claims.listedBy(e.name, p.ID); other {
					// Read by another set: its listing says.
					if names = theirs; names == nil {
						known = false
						continue
					}
				} else if ps := e.projects[p.ID]; ps != nil && ps.listed {
					names = ps.names
				} else if s.Shard.owns(p.ID) || names == nil {
					known = false
					continue
				}
				if names[name] {
					found = true
					break
				}
			}
			if len(es.projects) == 1 {
				owner = es.projects[0].ID
			}
			if !found && known && s.Shard.owns(owner) {
				now[MissingTarget{Project: label, Cluster: name}] = true
			}
		}
		for _, p := range es.projects {
			if ps := e.projects[p.ID]; ps != nil {
				e.missingKinds(entry, p, ps, now, planned)
			}
		}
	}
	// What the other sets' entries select in the projects this set reads, it plans and reads.
	for id, ps := range e.projects {
		for _, entry := range e.claims.others(e.name, id) {
			e.missingKinds(entry, ps.project, ps, now, planned)
		}
	}
	for k := range now {
		if !e.missing[k] {
			level.Warn(e.logger).Log("msg", "configured target not found in Atlas; its backups are not watched", "project", k.Project, "cluster", k.Cluster, "kind", k.Kind)
			e.newVersion()
		}
	}
	for k := range e.missing {
		if !now[k] {
			level.Info(e.logger).Log("msg", "configured target found in Atlas", "project", k.Project, "cluster", k.Cluster, "kind", k.Kind)
			e.newVersion()
		}
	}
	e.missing = now
	for t := range e.notFound {
		if !planned[t] {
			delete(e.notFound, t)
		}
	}
}

// missingKinds adds to now the targets entry plans in project p (its state ps) that Atlas
// answered do not exist as their kind, and marks every target it plans there in planned. e.mu
// must be held.
func (e *setEngine) missingKinds(entry config.Project, p atlas.Project, ps *projectState, now map[MissingTarget]bool, planned map[atlas.Target]bool) {
	project := cmp.Or(entry.ID, entry.Name, p.Name)
	_, plan := planOf(entry, p, ps)
	for _, read := range plan {
		t := read.Target
		planned[t] = true
		// Listed by a discovery after it answered "not found": it exists, but not as this kind.
		if at, nf := e.notFound[t]; nf && ps.listedCycle > at && ps.names[t.Cluster] {
			now[MissingTarget{Project: project, Cluster: t.Cluster, Kind: string(t.Kind)}] = true
		}
	}
}
