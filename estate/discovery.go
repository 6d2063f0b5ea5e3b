package estate

import (
	"context"
	"sync"

	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// detectChanges reads the all-projects cluster listing and marks for discovery the projects in
// which it shows a cluster discovery has not seen, and the selectors that may now find a project
// they did not. It never concludes that a cluster is gone: the listing leaves some out.
func (r *refresh) detectChanges(ctx context.Context) {
	all, err := r.fetcher.ClusterNames(ctx)
	r.note(err)
	e := r.e
	if !r.lockCurrent() {
		return
	}
	defer e.mu.Unlock()
	e.logChange(&e.log, topicClusterNames, err, "msg", "the all-projects cluster listing failed; new clusters are found at the next full discovery")
	if err != nil {
		return
	}
	e.clusterNames = make(map[string]map[string]bool, len(all))
	for _, pc := range all {
		names := make(map[string]bool, len(pc.Clusters))
		for _, n := range pc.Clusters {
			names[n] = true
		}
		e.clusterNames[pc.Project.ID] = names
		// Another replica's, or read by another credential set: not this set's to discover.
		if !r.settings.Shard.owns(pc.Project.ID) || !e.claims.reads(e.name, pc.Project.ID) {
			continue
		}
		ps := e.projects[pc.Project.ID]
		if ps == nil || !ps.listed {
			// A project discovery has not seen: the selectors that may select it look again.
			for _, entry := range r.settings.Projects {
				if entry.MayName(pc.Project) {
					r.dueEntries[entry.Selector()] = true
				}
			}
			continue
		}
		if ps.project.Name != pc.Project.Name {
			// Renamed: every selector looks again, and the labels follow.
			for _, entry := range r.settings.Projects {
				r.dueEntries[entry.Selector()] = true
			}
		}
		for _, name := range pc.Clusters {
			if !ps.names[name] {
				r.dueProjects[pc.Project.ID] = true
				level.Info(e.logger).Log("msg", "new cluster seen; discovering its project", "project_id", pc.Project.ID, "project", pc.Project.Name, "cluster", name)
				break
			}
		}
	}
}

// entry resolves one configured project selector (when due) and refreshes each project it names.
func (r *refresh) entry(ctx context.Context, entry config.Project) {
	e := r.e
	sel := entry.Selector()
	e.mu.Lock()
	es := e.entries[sel]
	due := r.full || es == nil || r.dueEntries[sel]
	e.mu.Unlock()
	var projects []atlas.Project
	var err error
	resolved := true
	if due {
		projects, err = r.resolve(ctx, entry)
		r.note(err)
		if ctx.Err() != nil || !r.lockCurrent() {
			return
		}
		es = e.entries[sel]
		if es == nil {
			es = &entryState{}
			if r.selection == e.selection {
				e.entries[sel] = es
			}
		}
		switch {
		case err == nil:
			es.projects, es.resolved, es.absent, es.again = projects, true, false, false
			e.logChange(&es.log, topicResolve, nil, "msg", "configured project resolved", "selector", sel)
			if r.selection == e.selection {
				e.claims.claim(e.name, sel, projects)
			}
		case atlas.ProjectNotFound(err):
			// Atlas answered: there is no such project. Its series go; target_missing says so.
			es.projects, es.resolved, es.absent, es.again = nil, true, true, false
			projects = nil
			e.logChange(&es.log, topicResolve, err, "msg", "configured project not found", "selector", sel)
			if r.selection == e.selection {
				e.claims.claim(e.name, sel, nil)
			}
		default:
			// Keep what the selector found before, and say the projects could not be read; another
			// set selecting them reads them until this one resolves its entry again.
			resolved, projects, es.again = false, es.projects, true
			e.logChange(&es.log, topicResolve, err, "msg", "cannot resolve configured project", "selector", sel)
			if r.selection == e.selection {
				e.claims.claim(e.name, sel, nil)
			}
			for _, p := range projects {
				if ps := e.projects[p.ID]; ps != nil && ps.ok {
					ps.ok = false
					e.projectChanged(ps)
				}
			}
		}
		e.mu.Unlock()
	} else {
		projects = es.projects
	}
	var wg sync.WaitGroup
	for _, p := range projects {
		// Another replica's, or another credential set's: a project is read once.
		if !r.settings.Shard.owns(p.ID) || !e.claims.reads(e.name, p.ID) {
			continue
		}
		// With what every set's entries select in it.
		for _, entry := range append([]config.Project{entry}, r.others(p.ID)...) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.project(ctx, entry, p, resolved)
			}()
		}
	}
	wg.Wait()
}

// others are the other sets' entries selecting project id, which this set reads: once per
// refresh, to the first of this set's entries to read the project.
func (r *refresh) others(id string) []config.Project {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.othersPlanned[id] {
		return nil
	}
	if r.othersPlanned == nil {
		r.othersPlanned = map[string]bool{}
	}
	r.othersPlanned[id] = true
	return r.e.claims.others(r.e.name, id)
}

func (r *refresh) resolve(ctx context.Context, entry config.Project) ([]atlas.Project, error) {
	if entry.Name != "" {
		p, err := sharedIn(r, r.byName, entry.Name).do(func() (atlas.Project, error) { return r.fetcher.ProjectByName(ctx, entry.Name) })
		if err != nil {
			return nil, err
		}
		return []atlas.Project{p}, nil
	}
	all, err := r.allProjects.do(func() ([]atlas.Project, error) { return r.fetcher.Projects(ctx) })
	if err != nil {
		return nil, err
	}
	if entry.ID != "" {
		p, err := atlas.ProjectByID(all, entry.ID)
		if err != nil {
			return nil, err
		}
		return []atlas.Project{p}, nil
	}
	var out []atlas.Project
	for _, p := range all {
		if entry.MayName(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// clusters lists a project's clusters once per refresh, for every selector that names it.
func (r *refresh) clusters(ctx context.Context, projectID string) (atlas.ClusterList, error) {
	return sharedIn(r, r.listings, projectID).do(func() (atlas.ClusterList, error) {
		list, err := r.fetcher.Clusters(ctx, projectID)
		r.note(err)
		return list, err
	})
}

// project discovers one project's clusters when due, and fetches the snapshots of the targets
// entry selects in it.
func (r *refresh) project(ctx context.Context, entry config.Project, p atlas.Project, resolved bool) {
	e := r.e
	e.mu.Lock()
	ps := e.projects[p.ID]
	due := resolved && (r.full || ps == nil || r.dueProjects[p.ID])
	e.mu.Unlock()
	var list atlas.ClusterList
	var err error
	var policy *shared[*atlas.CompliancePolicy]
	if due {
		r.readOrganization(ctx, p.OrgID)
		readPolicy := r.compliance(ctx, p.ID)
		list, err = r.clusters(ctx, p.ID)
		policy = readPolicy()
	}
	if ctx.Err() != nil || !r.lockCurrent() {
		return
	}
	ps = e.projects[p.ID]
	if ps == nil {
		ps = &projectState{}
		e.projects[p.ID] = ps
	}
	if ps.project != p {
		// A renamed project changes every label set of its targets.
		for t, ts := range e.byProject[p.ID] {
			ts.project = p
			e.changed(t, ts)
		}
	}
	ps.project, ps.seen = p, r.cycle
	switch {
	case !resolved:
		ps.ok = false
	case due && err != nil:
		ps.ok, ps.rediscover = false, true
		e.logChange(&ps.log, topicDiscover, err, "msg", "cluster discovery failed", "project_id", p.ID, "project", p.Name)
		if atlas.ProjectNotFound(err) {
			e.rediscover = true
		}
	case due && ps.listedCycle != r.cycle:
		// The first selector to see this cycle's listing records it.
		r.recordListing(ps, p, list)
	}
	if ps.listed {
		// The other sets selecting the project tell from it which of their clusters are missing.
		e.claims.listed(e.name, p.ID, ps.names)
	}
	r.applyCompliance(ps, policy)
	e.projectChanged(ps)
	// Between discoveries (and when one fails) the targets found last time are read: the
	// listing may be the only thing failing, and if all of Atlas is, collect_success says so.
	selected, plan := planOf(entry, p, ps)
	r.markSelected(p.ID, selected)
	reads := r.reads(p, plan)
	e.mu.Unlock()
	r.fetcher.Fetch(ctx, reads, func(res atlas.Result) { r.deliver(ctx, res) }, r.deliverJobs, &r.jobs)
}

// recordListing keeps what discovery found in project p; e.mu must be held.
func (r *refresh) recordListing(ps *projectState, p atlas.Project, list atlas.ClusterList) {
	e := r.e
	e.logChange(&ps.log, topicDiscover, nil, "msg", "cluster discovery recovered", "project_id", p.ID, "project", p.Name)
	ps.listed, ps.listedCycle, ps.ok, ps.rediscover = true, r.cycle, true, false
	ps.discoveredAt, ps.serverless = e.now(), list.ServerlessGone
	ps.clusters = list.Clusters
	ps.names = make(map[string]bool, len(list.Clusters))
	for _, cl := range list.Clusters {
		ps.names[cl.Name] = true
	}
	if list.ServerlessGone != nil {
		e.warnOnce(&ps.log, topicServerless, "msg", "the serverless instance listing is gone; serverless instances are discovered through the Flex API", "project_id", p.ID, "project", p.Name, "err", list.ServerlessGone.Err)
	}
}

// planOf is what entry reads in project p: the clusters it selects in the project's last
// listing, and their targets.
func planOf(entry config.Project, p atlas.Project, ps *projectState) ([]atlas.Cluster, []atlas.TargetRead) {
	var selected []atlas.Cluster
	var plan []atlas.TargetRead
	for _, cl := range ps.clusters {
		if !entry.SelectsCluster(cl.Name) {
			continue
		}
		selected = append(selected, cl)
		for _, t := range entry.Targets(p.ID, cl) {
			plan = append(plan, atlas.TargetRead{Target: t, SnapshotIDs: entry.Snapshots})
		}
	}
	return selected, plan
}

// markSelected notes clusters an entry selects in project id, for cluster_info once the
// refresh finishes; e.mu must be held.
func (r *refresh) markSelected(id string, clusters []atlas.Cluster) {
	if r.selection != r.e.selection {
		return
	}
	m := r.selected[id]
	if m == nil {
		m = map[string]atlas.Cluster{}
		r.selected[id] = m
	}
	for _, cl := range clusters {
		m[cl.Name] = cl
	}
}
