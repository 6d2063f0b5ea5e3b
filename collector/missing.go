package collector

import (
	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// missingKey is a configured target Atlas does not show: a project (cluster and kind empty), a
// cluster in it (kind empty), or a kind a cluster Atlas lists cannot be read as. project is the
// selector as configured (name or id), or the project's name for discover_all_projects.
//
// With several shards, each missing target is reported by one: the shard of its project, or,
// for a project Atlas does not show, of the name or id it is configured by, and for a cluster
// no project holds, of the empty key.
type missingKey struct{ project, cluster, kind string }

// updateMissing works out which configured targets Atlas does not show, from what discovery
// and the snapshot reads found, and logs each when it starts and when it ends missing. Only
// definite answers count (a project or cluster absent from a listing that succeeded, a 404
// naming it): a failing call says nothing about existence. c.mu must be held.
func (c *Collector) updateMissing() {
	now := map[missingKey]bool{}
	planned := map[atlas.Target]bool{}
	for _, e := range c.settings.Projects {
		es := c.entries[e.Selector()]
		if es == nil || !es.resolved {
			continue
		}
		label := e.Name
		if e.ID != "" {
			label = e.ID
		}
		shard := c.settings.Shard
		if es.absent {
			if shard.owns(label) {
				now[missingKey{project: label}] = true
			}
			continue
		}
		for _, name := range e.Clusters {
			// A project of another shard is known through the all-projects cluster listing.
			found, known, owner := false, true, ""
			for _, p := range es.projects {
				names := c.clusterNames[p.ID]
				if ps := c.projects[p.ID]; ps != nil && ps.listed {
					names = ps.names
				} else if shard.owns(p.ID) || names == nil {
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
			if !found && known && shard.owns(owner) {
				now[missingKey{project: label, cluster: name}] = true
			}
		}
		for _, p := range es.projects {
			ps := c.projects[p.ID]
			if ps == nil {
				continue
			}
			project := label
			if project == "" {
				project = p.Name
			}
			_, plan := planOf(e, p, ps)
			for _, req := range plan {
				t := req.Target
				planned[t] = true
				// Listed by a discovery after it answered "not found": it exists, but not as this kind.
				if at, nf := c.notFound[t]; nf && ps.listedCycle > at && ps.names[t.Cluster] {
					now[missingKey{project: project, cluster: t.Cluster, kind: string(t.Kind)}] = true
				}
			}
		}
	}
	for k := range now {
		if !c.missing[k] {
			level.Warn(c.logger).Log("msg", "configured target not found in Atlas; its backups are not watched", "project", k.project, "cluster", k.cluster, "kind", k.kind)
		}
	}
	for k := range c.missing {
		if !now[k] {
			level.Info(c.logger).Log("msg", "configured target found in Atlas", "project", k.project, "cluster", k.cluster, "kind", k.kind)
		}
	}
	c.missing = now
	for t := range c.notFound {
		if !planned[t] {
			delete(c.notFound, t)
		}
	}
}
