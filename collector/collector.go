// Package collector turns Atlas backup snapshots into Prometheus metrics. It refreshes its view
// of Atlas through an atlas.Fetcher when a scrape asks for it and the data is older than the
// configured minimum refresh interval, and serves everything else from its cache.
package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

const namespace = "atlas_backup"

// Fetcher is what the collector needs from the atlas package.
type Fetcher interface {
	Projects(ctx context.Context) ([]atlas.Project, error)
	ProjectByName(ctx context.Context, name string) (atlas.Project, error)
	Clusters(ctx context.Context, projectID string) (atlas.ClusterList, error)
	Fetch(ctx context.Context, reqs []atlas.Request, deliver func(atlas.Result))
}

// Settings is the part of the configuration the collector uses.
type Settings struct {
	Projects           []config.Project
	MinRefreshInterval time.Duration
	RefreshTimeout     time.Duration
	SnapshotMetrics    bool
	BackupSchedules    bool
}

// SettingsFrom extracts Settings from a loaded configuration.
func SettingsFrom(c *config.Config) Settings {
	return Settings{
		Projects: c.Projects, MinRefreshInterval: c.MinRefreshInterval.D(),
		RefreshTimeout: c.RefreshTimeout.D(), SnapshotMetrics: c.SnapshotMetricsEnabled(),
		BackupSchedules: c.BackupSchedulesEnabled(),
	}
}

// Collector is a prometheus.Collector over a cached view of Atlas.
type Collector struct {
	logger log.Logger
	now    func() time.Time
	life   context.Context // ends when the exporter stops; background refreshes derive from it

	mu         sync.Mutex
	fetcher    Fetcher
	settings   Settings
	generation int // bumped by Reconfigure: results of older refreshes are dropped
	cycle      int
	lastStart  time.Time
	refreshing chan struct{} // closed when the running refresh ends; nil when none runs
	ready      bool
	up         bool
	lastDur    time.Duration
	entries    map[string][]atlas.Project // projects each project selector resolved to last time
	projects   map[string]*projectState
	targets    map[atlas.Target]*targetState
	version    uint64            // bumped when a refresh ends and on Reconfigure
	warned     map[string]bool   // deprecation and sunset messages already logged
	lastErr    map[string]string // last error logged per subject, "" after recovery
}

type projectState struct {
	project      atlas.Project
	clusters     map[string]atlas.Cluster // selected by any config entry this cycle
	clusterCycle int
	ok           bool
	discoveredAt time.Time
	serverless   *atlas.GoneError
	seen         int
}

type targetState struct {
	project     atlas.Project
	served      atlas.Target
	snapshots   []atlas.Snapshot
	schedule    *atlas.Schedule // Cloud Backup policy; nil for other kinds or before it was read
	gone        []*atlas.GoneError
	hasData     bool
	fetchedAt   time.Time
	ok          bool
	seen        int
	unknownSeen map[string]bool

	// Encodings of this state, reused by every scrape until it changes.
	cache    []prometheus.Metric // per-cluster metrics
	cacheGen int
	text     *snapshotText // per-snapshot samples
	textGen  int
}

// New returns a collector. life bounds background refreshes; now is the clock (time.Now in
// production, fixed in tests).
func New(life context.Context, logger log.Logger, f Fetcher, s Settings, now func() time.Time) *Collector {
	return &Collector{
		logger: logger, now: now, life: life, fetcher: f, settings: s,
		entries: map[string][]atlas.Project{}, projects: map[string]*projectState{},
		targets: map[atlas.Target]*targetState{}, warned: map[string]bool{}, lastErr: map[string]string{},
	}
}

// Reconfigure swaps the fetcher and settings after a configuration reload; the next scrape
// refreshes everything, and series the new configuration no longer selects disappear then.
func (c *Collector) Reconfigure(f Fetcher, s Settings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetcher, c.settings = f, s
	c.generation++
	c.version++
	c.lastStart = time.Time{}
}

// Ready reports whether the first refresh has finished.
func (c *Collector) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// Version changes when a refresh ends or the configuration changes. Targets delivered during a
// refresh change the data too, without changing the version: a rendering reused for the same
// version may miss those for as long as it is reused.
func (c *Collector) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Refreshing reports whether a refresh is under way.
func (c *Collector) Refreshing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshing != nil
}

// Refresh brings the cache up to date if it is older than the minimum refresh interval, sharing
// a refresh already under way. It waits until the refresh ends or ctx is done (the scrape's
// deadline); a refresh cut short by ctx goes on in the background, bounded by the refresh
// timeout, and the scrape is served what has arrived so far.
func (c *Collector) Refresh(ctx context.Context) {
	c.mu.Lock()
	done := c.refreshing
	if done == nil {
		if !c.lastStart.IsZero() && c.now().Sub(c.lastStart) < c.settings.MinRefreshInterval {
			c.mu.Unlock()
			return
		}
		done = make(chan struct{})
		c.refreshing = done
		c.lastStart = c.now()
		c.cycle++
		rctx, cancel := context.WithTimeout(c.life, c.settings.RefreshTimeout)
		go func(r *refresh) {
			defer cancel()
			r.run(rctx)
			c.finish(r, done)
		}(&refresh{c: c, fetcher: c.fetcher, settings: c.settings, generation: c.generation, cycle: c.cycle, start: c.lastStart})
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// refresh is one refresh cycle.
type refresh struct {
	c          *Collector
	fetcher    Fetcher
	settings   Settings
	generation int
	cycle      int
	start      time.Time

	mu         sync.Mutex
	successes  int
	authFailed bool
	complete   bool
}

func (r *refresh) note(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ae *atlas.Error
	switch {
	case err == nil:
		r.successes++
	case errors.As(err, &ae) && ae.Unauthorized():
		r.authFailed = true
	case errors.As(err, &ae) && ae.StatusCode != 0 && ae.StatusCode < 500:
		// Atlas answered and accepted the credentials, even if it refused this call (a 404, a
		// 429); a 5xx is Atlas failing, not answering.
		r.successes++
	}
}

func (r *refresh) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, entry := range r.settings.Projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.entry(ctx, entry)
		}()
	}
	wg.Wait()
	r.complete = ctx.Err() == nil
}

// entry resolves one configured project selector and refreshes each project it names.
func (r *refresh) entry(ctx context.Context, e config.Project) {
	projects, err := r.resolve(ctx, e)
	r.note(err)
	c := r.c
	c.mu.Lock()
	if r.generation != c.generation {
		c.mu.Unlock()
		return
	}
	if err != nil {
		// Keep what the selector found before, and say the project could not be read.
		projects = c.entries[selector(e)]
		c.logChange("resolve\x00"+selector(e), err, "msg", "cannot resolve configured project", "selector", selector(e))
		for _, p := range projects {
			if ps := c.projects[p.ID]; ps != nil {
				ps.ok = false
			}
		}
	} else {
		c.entries[selector(e)] = projects
		c.logChange("resolve\x00"+selector(e), nil, "msg", "configured project resolved", "selector", selector(e))
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.project(ctx, e, p, err == nil)
		}()
	}
	wg.Wait()
}

func selector(e config.Project) string {
	switch {
	case e.ID != "":
		return "id=" + e.ID
	case e.Name != "":
		return "name=" + e.Name
	}
	sel := "discover_all_projects"
	if e.ProjectInclude != nil {
		sel += " project_include=" + e.ProjectInclude.String()
	}
	if e.ProjectExclude != nil {
		sel += " project_exclude=" + e.ProjectExclude.String()
	}
	return sel
}

func (r *refresh) resolve(ctx context.Context, e config.Project) ([]atlas.Project, error) {
	switch {
	case e.Name != "":
		p, err := r.fetcher.ProjectByName(ctx, e.Name)
		if err != nil {
			return nil, err
		}
		return []atlas.Project{p}, nil
	case e.ID != "":
		// There is no get-project-by-id operation in the API subset the exporter needs; the
		// listing gives the name label, and it is shared by every id selector of the cycle.
		all, err := r.fetcher.Projects(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range all {
			if p.ID == e.ID {
				return []atlas.Project{p}, nil
			}
		}
		return nil, fmt.Errorf("project %s is not visible to these credentials (give them the Project Read Only role on it)", e.ID)
	}
	all, err := r.fetcher.Projects(ctx)
	if err != nil {
		return nil, err
	}
	var out []atlas.Project
	for _, p := range all {
		if (e.ProjectInclude == nil || e.ProjectInclude.MatchString(p.Name)) && (e.ProjectExclude == nil || !e.ProjectExclude.MatchString(p.Name)) {
			out = append(out, p)
		}
	}
	return out, nil
}

// project discovers one project's clusters and fetches the snapshots of its targets.
func (r *refresh) project(ctx context.Context, e config.Project, p atlas.Project, resolved bool) {
	c := r.c
	var list atlas.ClusterList
	var err error
	if resolved {
		list, err = r.fetcher.Clusters(ctx, p.ID)
		r.note(err)
	} else {
		err = errors.New("project could not be resolved")
	}
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	if r.generation != c.generation {
		c.mu.Unlock()
		return
	}
	ps := c.projects[p.ID]
	if ps == nil {
		ps = &projectState{}
		c.projects[p.ID] = ps
	}
	ps.project, ps.seen = p, r.cycle
	var reqs []atlas.Request
	if err != nil {
		if resolved {
			ps.ok = false
			c.logChange("discover\x00"+p.ID, err, "msg", "cluster discovery failed", "project_id", p.ID, "project", p.Name)
		}
		// Keep the clusters found before and read their snapshots anyway: the listing may be
		// the only thing failing, and if all of Atlas is, collect_success says so.
		known := make([]atlas.Cluster, 0, len(ps.clusters))
		for _, cl := range ps.clusters {
			known = append(known, cl)
		}
		for _, t := range targetsOf(e, p, filterClusters(e, known), r.settings.BackupSchedules) {
			if ts := c.targets[t.Target]; ts != nil {
				ts.seen = r.cycle
				reqs = append(reqs, t)
			}
		}
		ps.clusterCycle = r.cycle
	} else {
		reqs = r.discovered(ps, e, p, list)
	}
	c.mu.Unlock()
	r.fetcher.Fetch(ctx, reqs, func(res atlas.Result) { r.deliver(res) })
}

// discovered records what discovery found in project p for entry e and returns the requests
// for its targets; c.mu must be held.
func (r *refresh) discovered(ps *projectState, e config.Project, p atlas.Project, list atlas.ClusterList) []atlas.Request {
	c := r.c
	c.logChange("discover\x00"+p.ID, nil, "msg", "cluster discovery recovered", "project_id", p.ID, "project", p.Name)
	ps.ok, ps.discoveredAt, ps.serverless = true, c.now(), list.ServerlessGone
	selected := filterClusters(e, list.Clusters)
	if ps.clusterCycle != r.cycle {
		ps.clusters, ps.clusterCycle = map[string]atlas.Cluster{}, r.cycle
	}
	for _, cl := range selected {
		ps.clusters[cl.Name] = cl
	}
	if list.ServerlessGone != nil {
		c.warnOnce("serverless-list\x00"+p.ID, "msg", "the serverless instance listing is gone; serverless instances are discovered through the Flex API", "project_id", p.ID, "project", p.Name, "err", list.ServerlessGone.Err)
	}
	reqs := targetsOf(e, p, selected, r.settings.BackupSchedules)
	for _, t := range reqs {
		ts := c.targets[t.Target]
		if ts == nil {
			ts = &targetState{served: t.Target, unknownSeen: map[string]bool{}}
			c.targets[t.Target] = ts
		}
		if ts.project != p {
			ts.cache, ts.text = nil, nil // a renamed project changes every label set
		}
		ts.project, ts.seen = p, r.cycle
		if lc := atlas.LifecycleOf(t.Target.Kind); lc.Deprecated {
			c.warnOnce("deprecated\x00"+targetID(t.Target), "msg", "snapshot endpoint is deprecated", "project_id", p.ID, "project", p.Name,
				"cluster", t.Target.Cluster, "kind", t.Target.Kind, "sunset_date", lc.SunsetDate, "replacement", lc.Replacement)
		}
	}
	return reqs
}

// filterClusters applies an entry's clusters list and include/exclude expressions.
func filterClusters(e config.Project, all []atlas.Cluster) []atlas.Cluster {
	var out []atlas.Cluster
	for _, cl := range all {
		if len(e.Clusters) > 0 && !slices.Contains(e.Clusters, cl.Name) {
			continue
		}
		if (e.Include != nil && !e.Include.MatchString(cl.Name)) || (e.Exclude != nil && e.Exclude.MatchString(cl.Name)) {
			continue
		}
		out = append(out, cl)
	}
	return out
}

// targetsOf turns discovered clusters into the requests to make: the discovered kind, or the
// kinds the entry names instead; schedules says whether to read Cloud Backup schedules too.
func targetsOf(e config.Project, p atlas.Project, clusters []atlas.Cluster, schedules bool) []atlas.Request {
	var out []atlas.Request
	for _, cl := range clusters {
		kinds := []atlas.Kind{cl.Kind}
		if len(e.Kinds) > 0 {
			kinds = kinds[:0]
			for _, k := range e.Kinds {
				kind, _ := atlas.ParseKind(k)
				kinds = append(kinds, kind)
			}
		}
		for _, k := range kinds {
			if k == "" {
				continue
			}
			out = append(out, atlas.Request{
				Target:      atlas.Target{ProjectID: p.ID, Cluster: cl.Name, Kind: k, Sharded: cl.Sharded && k == atlas.KindCloud},
				SnapshotIDs: e.Snapshots,
				Schedule:    schedules,
			})
		}
	}
	return out
}

func targetID(t atlas.Target) string { return t.ProjectID + "/" + t.Cluster + "/" + string(t.Kind) }

func (r *refresh) deliver(res atlas.Result) {
	r.note(res.Err)
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.generation != c.generation {
		return
	}
	ts := c.targets[res.Request.Target]
	if ts == nil {
		return
	}
	t := res.Request.Target
	for _, g := range res.Gone {
		c.warnOnce("gone\x00"+targetID(t)+"\x00"+string(g.Kind), "msg", "snapshot endpoint answered that it is gone", "project_id", t.ProjectID,
			"project", ts.project.Name, "cluster", t.Cluster, "kind", g.Kind, "replacement", g.Replacement, "err", g.Err)
	}
	var ae *atlas.Error
	if res.Err != nil && errors.As(res.Err, &ae) && ae.NotFound() {
		// The cluster was deleted after discovery: its series go now, not after a ghost period.
		level.Info(c.logger).Log("msg", "cluster no longer exists; dropping its series", "project_id", t.ProjectID, "cluster", t.Cluster, "kind", t.Kind)
		delete(c.targets, t)
		return
	}
	c.logChange("target\x00"+targetID(t), res.Err, "msg", "snapshot collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	ts.gone, ts.cache, ts.text = res.Gone, nil, nil
	if res.Err != nil {
		ts.ok = false
		return
	}
	r.note(res.ScheduleErr)
	c.logChange("schedule\x00"+targetID(t), res.ScheduleErr, "msg", "backup schedule collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	switch {
	case res.Schedule != nil:
		ts.schedule = res.Schedule
	case res.ScheduleErr == nil:
		ts.schedule = nil // the target is no longer read through Cloud Backup
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
	if c.settings.SnapshotMetrics {
		// Encode now, in the refresh, rather than in the next scrape.
		ts.text, ts.textGen = buildSnapshotText(ts), c.generation
	}
}

// finish ends a refresh: it drops what the cycle no longer saw and records the exporter's health.
func (c *Collector) finish(r *refresh, done chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(done)
	c.refreshing = nil
	if r.generation != c.generation {
		return
	}
	c.version++
	if r.complete {
		for id, ps := range c.projects {
			if ps.seen != r.cycle {
				delete(c.projects, id)
			}
		}
		for t, ts := range c.targets {
			if ts.seen != r.cycle {
				delete(c.targets, t)
			}
		}
	}
	r.mu.Lock()
	c.up = r.successes > 0 && !r.authFailed
	r.mu.Unlock()
	c.lastDur = c.now().Sub(r.start)
	c.ready = true
}

// logChange logs err under key only when it differs from the last one logged there, so a
// problem is reported once when it starts and once when it ends, not on every scrape. c.mu
// must be held.
func (c *Collector) logChange(key string, err error, kv ...any) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if last, seen := c.lastErr[key]; last == msg && (seen || msg == "") {
		return
	}
	c.lastErr[key] = msg
	if err != nil {
		level.Warn(c.logger).Log(append(kv, "err", err)...)
		return
	}
	level.Info(c.logger).Log(append(kv, "status", "recovered")...)
}

func (c *Collector) warnOnce(key string, kv ...any) {
	if c.warned[key] {
		return
	}
	c.warned[key] = true
	level.Warn(c.logger).Log(kv...)
}
