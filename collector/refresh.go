package collector

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// refresh is one refresh cycle.
type refresh struct {
	c                     *Collector
	fetcher               Fetcher
	settings              Settings
	generation, selection int
	cycle                 int
	start                 time.Time
	requestsBefore        uint64

	// Decided when the refresh starts (under c.mu): a full discovery, or which projects and
	// selectors to discover again.
	full        bool
	dueProjects map[string]bool
	dueEntries  map[string]bool

	mu         sync.Mutex
	successes  int
	authFailed bool
	complete   bool
	// The calls every selector that needs them shares, one each per refresh (under r.mu).
	allProjects shared[[]atlas.Project]
	byName      map[string]*shared[atlas.Project]
	listings    map[string]*shared[atlas.ClusterList]       // per project
	policies    map[string]*shared[*atlas.CompliancePolicy] // per project
	selected    map[string]map[string]atlas.Cluster         // per project, the clusters entries select (under c.mu)
	delivered   map[atlas.Target]bool                       // under c.mu

	// probed holds the projects and job families that Atlas refused, in which one target asks
	// again in this refresh (guarded by c.mu).
	probed map[probe]bool
	// jobs counts the job reads under way, which follow the snapshots they belong to.
	jobs sync.WaitGroup
}

// shared is a call of a refresh made once for every selector that needs it: the fetcher
// collapses only calls that overlap in time.
type shared[T any] struct {
	once sync.Once
	val  T
	err  error
}

// do returns what fn returns, fn running once for all callers.
func (s *shared[T]) do(fn func() (T, error)) (T, error) {
	s.once.Do(func() { s.val, s.err = fn() })
	return s.val, s.err
}

// sharedIn returns m[key], created on first use; m is one of r's maps, guarded by r.mu.
func sharedIn[T any](r *refresh, m map[string]*shared[T], key string) *shared[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := m[key]
	if s == nil {
		s = &shared[T]{}
		m[key] = s
	}
	return s
}

// lockCurrent takes c.mu and keeps it only while the collector still reads the data source the
// refresh started with: what a refresh against an older one brings is dropped.
func (r *refresh) lockCurrent() bool {
	r.c.mu.Lock()
	if r.generation != r.c.generation {
		r.c.mu.Unlock()
		return false
	}
	return true
}

// plan decides what the refresh discovers; c.mu must be held.
func (r *refresh) plan() {
	c := r.c
	r.full = c.rediscover || c.discoveredAt.IsZero() || r.start.Sub(c.discoveredAt) >= r.settings.DiscoveryInterval
	c.rediscover = false
	r.dueProjects, r.dueEntries = map[string]bool{}, map[string]bool{}
	for id, ps := range c.projects {
		if ps.rediscover || !ps.listed {
			r.dueProjects[id] = true
		}
	}
	for sel, es := range c.entries {
		if es.again || !es.resolved {
			r.dueEntries[sel] = true
		}
	}
}

func (r *refresh) note(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch atlas.OutcomeOf(err) {
	case atlas.Answered:
		r.successes++
	case atlas.CredentialsRefused:
		r.authFailed = true
	}
}

// discoveryKind names the refresh for atlas_backup_exporter_last_refresh_requests.
func (r *refresh) discoveryKind() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.full:
		return "full"
	case len(r.listings) > 0:
		return "partial"
	}
	return "none"
}

func (r *refresh) run(ctx context.Context) {
	if !r.full {
		r.detectChanges(ctx)
	}
	var wg sync.WaitGroup
	for _, entry := range r.settings.Projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.entry(ctx, entry)
		}()
	}
	wg.Wait()
	// The refresh is complete when discovery and every target's snapshots and schedule were
	// read before refresh_timeout: that is all that what finish decides needs (which targets
	// and projects are no longer seen, which configured ones Atlas does not show, when discovery
	// last ran). Job reads still running then do not make it incomplete: they are cut, and their
	// families alone report it (failUnfinishedJobs), so a job listing that hangs at every
	// refresh never holds back the rest.
	r.mu.Lock()
	r.complete = ctx.Err() == nil
	r.mu.Unlock()
	r.jobs.Wait() // the reads honour ctx: at refresh_timeout at the latest
}

// detectChanges reads the all-projects cluster listing and marks for discovery the projects in
// which it shows a cluster discovery has not seen, and the selectors that may now find a project
// they did not. It never concludes that a cluster is gone: the listing leaves some out.
func (r *refresh) detectChanges(ctx context.Context) {
	all, err := r.fetcher.ClusterNames(ctx)
	r.note(err)
	c := r.c
	if !r.lockCurrent() {
		return
	}
	defer c.mu.Unlock()
	c.logChange(&c.log, "clusternames", err, "msg", "the all-projects cluster listing failed; new clusters are found at the next full discovery")
	if err != nil {
		return
	}
	c.clusterNames = make(map[string]map[string]bool, len(all))
	for _, pc := range all {
		names := make(map[string]bool, len(pc.Clusters))
		for _, n := range pc.Clusters {
			names[n] = true
		}
		c.clusterNames[pc.Project.ID] = names
		if !r.settings.Shard.owns(pc.Project.ID) {
			continue
		}
		ps := c.projects[pc.Project.ID]
		if ps == nil || !ps.listed {
			// A project discovery has not seen: the selectors that may select it look again.
			for _, e := range r.settings.Projects {
				if e.MayName(pc.Project) {
					r.dueEntries[e.Selector()] = true
				}
			}
			continue
		}
		if ps.project.Name != pc.Project.Name {
			// Renamed: every selector looks again, and the labels follow.
			for _, e := range r.settings.Projects {
				r.dueEntries[e.Selector()] = true
			}
		}
		for _, name := range pc.Clusters {
			if !ps.names[name] {
				r.dueProjects[pc.Project.ID] = true
				level.Info(c.logger).Log("msg", "new cluster seen; discovering its project", "project_id", pc.Project.ID, "project", pc.Project.Name, "cluster", name)
				break
			}
		}
	}
}

// entry resolves one configured project selector (when due) and refreshes each project it names.
func (r *refresh) entry(ctx context.Context, e config.Project) {
	c := r.c
	sel := e.Selector()
	c.mu.Lock()
	es := c.entries[sel]
	due := r.full || es == nil || r.dueEntries[sel]
	c.mu.Unlock()
	var projects []atlas.Project
	var err error
	resolved := true
	if due {
		projects, err = r.resolve(ctx, e)
		r.note(err)
		if ctx.Err() != nil || !r.lockCurrent() {
			return
		}
		es = c.entries[sel]
		if es == nil {
			es = &entryState{}
			if r.selection == c.selection {
				c.entries[sel] = es
			}
		}
		switch {
		case err == nil:
			es.projects, es.resolved, es.absent, es.again = projects, true, false, false
			c.logChange(&es.log, "resolve", nil, "msg", "configured project resolved", "selector", sel)
		case atlas.ProjectNotFound(err):
			// Atlas answered: there is no such project. Its series go; target_missing says so.
			es.projects, es.resolved, es.absent, es.again = nil, true, true, false
			projects = nil
			c.logChange(&es.log, "resolve", err, "msg", "configured project not found", "selector", sel)
		default:
			// Keep what the selector found before, and say the projects could not be read.
			resolved, projects, es.again = false, es.projects, true
			c.logChange(&es.log, "resolve", err, "msg", "cannot resolve configured project", "selector", sel)
			for _, p := range projects {
				if ps := c.projects[p.ID]; ps != nil {
					ps.ok = false
				}
			}
		}
		c.mu.Unlock()
	} else {
		projects = es.projects
	}
	var wg sync.WaitGroup
	for _, p := range projects {
		if !r.settings.Shard.owns(p.ID) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.project(ctx, e, p, resolved)
		}()
	}
	wg.Wait()
}

func (r *refresh) resolve(ctx context.Context, e config.Project) ([]atlas.Project, error) {
	if e.Name != "" {
		p, err := sharedIn(r, r.byName, e.Name).do(func() (atlas.Project, error) { return r.fetcher.ProjectByName(ctx, e.Name) })
		if err != nil {
			return nil, err
		}
		return []atlas.Project{p}, nil
	}
	all, err := r.allProjects.do(func() ([]atlas.Project, error) { return r.fetcher.Projects(ctx) })
	if err != nil {
		return nil, err
	}
	if e.ID != "" {
		p, err := atlas.ProjectByID(all, e.ID)
		if err != nil {
			return nil, err
		}
		return []atlas.Project{p}, nil
	}
	var out []atlas.Project
	for _, p := range all {
		if e.MayName(p) {
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
// entry e selects in it.
func (r *refresh) project(ctx context.Context, e config.Project, p atlas.Project, resolved bool) {
	c := r.c
	c.mu.Lock()
	ps := c.projects[p.ID]
	due := resolved && (r.full || ps == nil || r.dueProjects[p.ID])
	c.mu.Unlock()
	var list atlas.ClusterList
	var err error
	var policy *shared[*atlas.CompliancePolicy]
	if due {
		readPolicy := r.compliance(ctx, p.ID)
		list, err = r.clusters(ctx, p.ID)
		policy = readPolicy()
	}
	if ctx.Err() != nil || !r.lockCurrent() {
		return
	}
	ps = c.projects[p.ID]
	if ps == nil {
		ps = &projectState{}
		c.projects[p.ID] = ps
	}
	if ps.project != p {
		// A renamed project changes every label set of its targets.
		for t, ts := range c.targets {
			if t.ProjectID == p.ID {
				ts.project, ts.cache, ts.text = p, nil, nil
			}
		}
	}
	ps.project, ps.seen = p, r.cycle
	switch {
	case !resolved:
		ps.ok = false
	case due && err != nil:
		ps.ok, ps.rediscover = false, true
		c.logChange(&ps.log, "discover", err, "msg", "cluster discovery failed", "project_id", p.ID, "project", p.Name)
		if atlas.ProjectNotFound(err) {
			c.rediscover = true
		}
	case due && ps.listedCycle != r.cycle:
		// The first selector to see this cycle's listing records it.
		r.recordListing(ps, p, list)
	}
	r.applyCompliance(ps, policy)
	// Between discoveries (and when one fails) the targets found last time are read: the
	// listing may be the only thing failing, and if all of Atlas is, collect_success says so.
	selected, plan := planOf(e, p, ps)
	r.markSelected(p.ID, selected)
	reqs := r.requests(p, plan)
	c.mu.Unlock()
	r.fetcher.Fetch(ctx, reqs, r.deliver, r.deliverJobs, &r.jobs)
}

// recordListing keeps what discovery found in project p; c.mu must be held.
func (r *refresh) recordListing(ps *projectState, p atlas.Project, list atlas.ClusterList) {
	c := r.c
	c.logChange(&ps.log, "discover", nil, "msg", "cluster discovery recovered", "project_id", p.ID, "project", p.Name)
	ps.listed, ps.listedCycle, ps.ok, ps.rediscover = true, r.cycle, true, false
	ps.discoveredAt, ps.serverless = c.now(), list.ServerlessGone
	ps.clusters = list.Clusters
	ps.names = make(map[string]bool, len(list.Clusters))
	for _, cl := range list.Clusters {
		ps.names[cl.Name] = true
	}
	if list.ServerlessGone != nil {
		c.warnOnce(&ps.log, "serverless-list", "msg", "the serverless instance listing is gone; serverless instances are discovered through the Flex API", "project_id", p.ID, "project", p.Name, "err", list.ServerlessGone.Err)
	}
}

// planOf is what entry e reads in project p: the clusters it selects in the project's last
// listing, and their targets.
func planOf(e config.Project, p atlas.Project, ps *projectState) ([]atlas.Cluster, []atlas.TargetRead) {
	var selected []atlas.Cluster
	for _, cl := range ps.clusters {
		if e.SelectsCluster(cl.Name) {
			selected = append(selected, cl)
		}
	}
	return selected, targetsOf(e, p, selected)
}

// markSelected notes clusters an entry selects in project id, for cluster_info once the
// refresh finishes; c.mu must be held.
func (r *refresh) markSelected(id string, clusters []atlas.Cluster) {
	if r.selection != r.c.selection {
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

// requests turns planned targets into this refresh's requests, deciding for each whether its
// backup schedule is due; c.mu must be held.
func (r *refresh) requests(p atlas.Project, plan []atlas.TargetRead) []atlas.TargetRead {
	c := r.c
	now := c.now()
	reqs := make([]atlas.TargetRead, 0, len(plan))
	for _, req := range plan {
		ts := c.targets[req.Target]
		if ts == nil {
			ts = &targetState{project: p, served: req.Target, unknownSeen: map[string]bool{}}
			c.targets[req.Target] = ts
		}
		ts.seen = r.cycle
		if lc := atlas.LifecycleOf(req.Target.Kind); lc.Deprecated {
			c.warnOnce(&ts.log, "deprecated", "msg", "snapshot endpoint is deprecated", "project_id", p.ID, "project", p.Name,
				"cluster", req.Target.Cluster, "kind", req.Target.Kind, "sunset_date", dateOf(lc.Sunset), "replacement", lc.Replacement)
		}
		req.Gone = ts.gone
		if r.settings.BackupSchedules {
			req.Schedule = ts.schedule == nil || ts.schedule.ReadAgain(ts.scheduleAt, now)
			if !req.Schedule {
				req.Cached, req.CachedAt = ts.schedule, ts.scheduleAt
			}
		}
		r.askHistory(ts, &req)
		reqs = append(reqs, req)
	}
	return reqs
}

// targetsOf is what entry e reads of the discovered clusters of project p.
func targetsOf(e config.Project, p atlas.Project, clusters []atlas.Cluster) []atlas.TargetRead {
	var out []atlas.TargetRead
	for _, cl := range clusters {
		for _, t := range e.Targets(p.ID, cl) {
			out = append(out, atlas.TargetRead{Target: t, SnapshotIDs: e.Snapshots})
		}
	}
	return out
}

func (r *refresh) deliver(res atlas.Result) {
	r.note(res.Err)
	c := r.c
	if !r.lockCurrent() {
		return
	}
	defer c.mu.Unlock()
	t := res.Read.Target
	r.delivered[t] = true
	ts := c.targets[t]
	if ts == nil {
		return
	}
	for _, g := range res.Gone {
		c.warnOnce(&ts.log, "gone "+string(g.Kind), "msg", "snapshot endpoint answered that it is gone", "project_id", t.ProjectID,
			"project", ts.project.Name, "cluster", t.Cluster, "kind", g.Kind, "replacement", g.Replacement, "err", g.Err)
	}
	switch {
	case atlas.ClusterNotFound(res.Err):
		// Deleted since discovery (or never readable as this kind): its series go now, and its
		// project is discovered again at the next refresh to tell which.
		if _, known := c.notFound[t]; !known {
			level.Info(c.logger).Log("msg", "cluster not found; dropping its series and discovering its project again", "project_id", t.ProjectID, "cluster", t.Cluster, "kind", t.Kind)
			if ps := c.projects[t.ProjectID]; ps != nil {
				ps.rediscover = true
			}
			c.notFound[t] = r.cycle
		}
		delete(c.targets, t)
		return
	case atlas.ProjectNotFound(res.Err):
		level.Info(c.logger).Log("msg", "project not found; dropping its series and resolving the configured projects again", "project_id", t.ProjectID)
		for tt := range c.targets {
			if tt.ProjectID == t.ProjectID {
				delete(c.targets, tt)
			}
		}
		delete(c.projects, t.ProjectID)
		c.rediscover = true
		return
	}
	if res.Err == nil {
		delete(c.notFound, t)
	}
	c.logChange(&ts.log, "snapshots", res.Err, "msg", "snapshot collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	ts.gone, ts.cache, ts.text = res.Gone, nil, nil
	if res.Err != nil {
		ts.ok = false
		return
	}
	r.note(res.ScheduleErr)
	c.logChange(&ts.log, "schedule", res.ScheduleErr, "msg", "backup schedule collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	switch {
	case !res.Served.Kind.HasSchedule() || !r.settings.BackupSchedules:
		ts.schedule, ts.scheduleAt = nil, time.Time{}
	case res.Schedule != nil:
		ts.schedule, ts.scheduleAt = res.Schedule, c.now()
	}
	snaps := res.Snapshots
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].CreatedAt.After(snaps[j].CreatedAt) })
	for _, s := range snaps {
		if s.Status == atlas.StatusUnknown && !ts.unknownSeen[s.RawStatus] {
			ts.unknownSeen[s.RawStatus] = true
			level.Warn(c.logger).Log("msg", "snapshot has a status Atlas does not document", "status", s.RawStatus, "project_id", t.ProjectID, "cluster", t.Cluster, "snapshot_id", s.ID)
		}
	}
	// A schedule that could not be read keeps its last value but fails the collection.
	ts.ok, ts.hasData, ts.fetchedAt = res.ScheduleErr == nil, true, c.now()
	ts.snapshots, ts.served = snaps, res.Served
	c.checkSnapshots(ts)
	r.expectJobs(ts, res)
	if c.settings.SnapshotMetrics {
		// Encode now, in the refresh, rather than in the next scrape.
		ts.text, ts.textView = buildSnapshotText(ts), c.view
	}
}
