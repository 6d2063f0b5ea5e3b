// Package collector turns Atlas backup snapshots into Prometheus metrics. It refreshes its view
// of Atlas through an atlas.Fetcher when a scrape asks for it and the data is older than the
// configured minimum refresh interval, and serves everything else from its cache.
//
// A refresh reads the snapshots of every known target. Discovery (which projects the
// configuration selects and which clusters they hold) has its own, longer cadence: it runs in
// full every discovery interval, and for one project whenever Atlas says that something in it
// changed (a new cluster in the all-projects cluster listing, a cluster answering that it does
// not exist).
package collector

import (
	"context"
	"sync"
	"time"

	"github.com/go-kit/log"
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
	ClusterNames(ctx context.Context) ([]atlas.ProjectClusters, error)
	CompliancePolicy(ctx context.Context, projectID string) (*atlas.CompliancePolicy, error)
	Fetch(ctx context.Context, reqs []atlas.TargetRead, deliver func(atlas.Result), deliverJobs func(atlas.JobsResult), jobs *sync.WaitGroup)
	RequestsSent() uint64
	Notices() []atlas.Notice
}

// Settings is the part of the configuration the collector uses.
type Settings struct {
	Projects           []config.Project
	MinRefreshInterval time.Duration
	RefreshTimeout     time.Duration
	// DiscoveryInterval is how often projects and clusters are rediscovered in full; 0 means on
	// every refresh.
	DiscoveryInterval time.Duration
	SnapshotMetrics   bool
	BackupSchedules   bool
	// Shard is the part of the estate this replica reads (--shard, --total-shards).
	Shard Shard
	// RestoreJobs, ExportJobs and CompliancePolicy read those families: restore and export
	// jobs at most once per JobsInterval per target, the policy with each discovery of its
	// project.
	RestoreJobs, ExportJobs, CompliancePolicy bool
	JobsInterval                              time.Duration
}

// SettingsFrom extracts Settings from a loaded configuration; the shard comes from flags.
func SettingsFrom(c *config.Config) Settings {
	return Settings{
		Projects: c.Projects, MinRefreshInterval: c.MinRefreshInterval.D(),
		RefreshTimeout: c.RefreshTimeout.D(), DiscoveryInterval: c.DiscoveryInterval.D(),
		SnapshotMetrics: c.SnapshotMetricsEnabled(), BackupSchedules: c.BackupSchedulesEnabled(),
		RestoreJobs: c.RestoreJobsEnabled(), ExportJobs: c.ExportJobsEnabled(), CompliancePolicy: c.CompliancePolicyEnabled(),
		JobsInterval: c.JobsInterval.D(),
	}
}

// Collector is a prometheus.Collector over a cached view of Atlas.
type Collector struct {
	logger log.Logger
	now    func() time.Time
	life   context.Context // ends when the exporter stops; background refreshes derive from it

	mu       sync.Mutex
	fetcher  Fetcher
	settings Settings
	// generation changes with the data source (credentials, base URL): results of refreshes
	// against an older one are dropped. selection changes with what the configuration selects:
	// refreshes under an older one still deliver snapshot data, but no longer decide which
	// targets exist. view changes on every reconfiguration: cached encodings are rebuilt.
	generation, selection, view int
	cycle                       int
	lastStart                   time.Time
	queued                      bool          // a reconfiguration asked for a refresh at once
	refreshing                  chan struct{} // closed when the running refresh ends; nil when none runs
	ready                       bool
	up                          bool
	lastDur                     time.Duration
	discoveredAt                time.Time // start of the last full discovery
	rediscover                  bool      // a full discovery is due at the next refresh
	lastRequests                map[string]float64
	entries                     map[string]*entryState // by selector
	projects                    map[string]*projectState
	targets                     map[atlas.Target]*targetState
	notFound                    map[atlas.Target]int // cycle in which Atlas said the target does not exist
	missing                     map[missingKey]bool
	clusterNames                map[string]map[string]bool // per project: names in the last all-projects cluster listing
	version                     uint64                     // bumped when a refresh ends and on Reconfigure
	log                         logBook                    // what was logged about the exporter as a whole
}

// entryState is what a project selector of the configuration resolved to.
type entryState struct {
	projects []atlas.Project
	resolved bool // resolved at least once
	absent   bool // Atlas said the configured project does not exist
	again    bool // resolve again at the next refresh
	log      logBook
}

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
	// refused holds, per job family and kind, when Atlas last refused it in this project (403):
	// roles are per project, so one cluster asks again per jobs_interval, not all.
	refused map[atlas.RefusalScope]time.Time
	log     logBook
}

type targetState struct {
	project     atlas.Project
	served      atlas.Target
	snapshots   []atlas.Snapshot
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
	log         logBook

	// The snapshots are kept newest first: the first future of them Atlas dates in the future.
	// implausible is what checkSnapshots logged of the snapshots last read.
	future      int
	implausible map[string]bool

	// Encodings of this state, reused by every scrape until it changes.
	cache     []prometheus.Metric // per-cluster metrics
	cacheView int
	text      *snapshotText // per-snapshot samples
	textView  int
}

// New returns a collector. life bounds background refreshes; now is the clock (time.Now in
// production, fixed in tests).
func New(life context.Context, logger log.Logger, f Fetcher, s Settings, now func() time.Time) *Collector {
	return &Collector{
		logger: logger, now: now, life: life, fetcher: f, settings: s,
		entries: map[string]*entryState{}, projects: map[string]*projectState{},
		targets: map[atlas.Target]*targetState{}, notFound: map[atlas.Target]int{}, missing: map[missingKey]bool{}, clusterNames: map[string]map[string]bool{},
		lastRequests: map[string]float64{},
	}
}

// Reconfigure applies a reloaded configuration. f is the fetcher to use from now on: the same
// one when the credentials and base URL did not change, so that its token, rate limiters and
// what was learnt of gone endpoints stay, and the refresh under way still counts. A new fetcher
// means a new data source: what refreshes under the old one still bring is dropped, and which
// endpoints are gone is learnt anew. A change of what the configuration selects starts a full
// rediscovery at once (after a refresh under way); the data shown stays until then.
func (c *Collector) Reconfigure(f Fetcher, s Settings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.settings
	c.settings = s
	c.view++
	c.version++
	newSource := f != c.fetcher
	if newSource {
		// Another host or other credentials may see other projects and clusters.
		c.fetcher = f
		c.generation++
		c.queued, c.rediscover = true, true
		for _, ts := range c.targets {
			ts.gone = nil // learnt from the old source
		}
	}
	c.reconfigureHistory(old, s, newSource)
	if !sameSelection(old, s) {
		// Selectors the configuration no longer has are resolved no more.
		keep := map[string]bool{}
		for _, e := range s.Projects {
			keep[e.Selector()] = true
		}
		for sel := range c.entries {
			if !keep[sel] {
				delete(c.entries, sel)
			}
		}
		c.selection++
		c.rediscover, c.queued = true, true
		// A new selection may want schedules read, and a policy may have changed meanwhile.
		for _, ts := range c.targets {
			ts.scheduleAt = time.Time{}
		}
	}
	if c.queued && c.refreshing == nil {
		c.start()
	}
}

// sameSelection reports whether a and b select the same targets and read the same about them.
// The compliance policy is read with discovery, so turning it on rediscovers; jobs that turn on
// are due at the next refresh anyway.
func sameSelection(a, b Settings) bool {
	if a.BackupSchedules != b.BackupSchedules || a.CompliancePolicy != b.CompliancePolicy || a.Shard != b.Shard || len(a.Projects) != len(b.Projects) {
		return false
	}
	for i := range a.Projects {
		if !a.Projects[i].Equal(b.Projects[i]) {
			return false
		}
	}
	return true
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
		if !c.queued && !c.lastStart.IsZero() && c.now().Sub(c.lastStart) < c.settings.MinRefreshInterval {
			c.mu.Unlock()
			return
		}
		done = c.start()
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// start begins a refresh in the background and returns the channel closed when it ends; c.mu
// must be held and no refresh be running.
func (c *Collector) start() chan struct{} {
	done := make(chan struct{})
	c.refreshing, c.queued = done, false
	c.lastStart = c.now()
	c.cycle++
	r := &refresh{
		c: c, fetcher: c.fetcher, settings: c.settings, generation: c.generation, selection: c.selection,
		cycle: c.cycle, start: c.lastStart, requestsBefore: c.fetcher.RequestsSent(),
		delivered: map[atlas.Target]bool{}, listings: map[string]*shared[atlas.ClusterList]{},
		byName: map[string]*shared[atlas.Project]{}, policies: map[string]*shared[*atlas.CompliancePolicy]{},
		selected: map[string]map[string]atlas.Cluster{},
	}
	r.plan()
	rctx, cancel := context.WithTimeout(c.life, c.settings.RefreshTimeout)
	go func() {
		r.run(rctx)
		// Whatever the refresh left waiting (a pause of a rate-limited bucket) ends with it.
		cancel()
		c.finish(r, done)
	}()
	return done
}

// finish ends a refresh: it fails the targets it did not finish, drops what the cycle no longer
// saw, works out which configured targets Atlas does not show, and records the exporter's health.
func (c *Collector) finish(r *refresh, done chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(done)
	c.refreshing = nil
	if r.generation != c.generation {
		if c.queued {
			c.start()
		}
		return
	}
	c.version++
	c.logNotices(r.fetcher.Notices())
	if !r.complete {
		c.failUnfinished(r)
	}
	r.failUnfinishedJobs()
	if r.complete && r.selection == c.selection {
		for id, ps := range c.projects {
			if ps.seen != r.cycle {
				delete(c.projects, id)
				continue
			}
			ps.selected = r.selected[id]
		}
		for t, ts := range c.targets {
			if ts.seen != r.cycle {
				delete(c.targets, t)
			}
		}
		if r.full {
			c.discoveredAt = r.start
		}
	}
	if r.selection == c.selection {
		c.updateMissing()
	}
	r.mu.Lock()
	c.up = r.successes > 0 && !r.authFailed
	r.mu.Unlock()
	c.lastDur = c.now().Sub(r.start)
	c.lastRequests[r.discoveryKind()] = float64(r.fetcher.RequestsSent() - r.requestsBefore)
	c.ready = true
	if c.queued {
		c.start()
	}
}

// failUnfinished marks the targets a refresh cut short by its timeout did not read (a request
// still running, or a discovery it was waiting for) as failed: their data is as old as before,
// and collect_success must say so. c.mu must be held.
func (c *Collector) failUnfinished(r *refresh) {
	err := errUnfinished{r.settings.RefreshTimeout}
	for t, ts := range c.targets {
		if r.delivered[t] {
			continue
		}
		ts.ok, ts.cache = false, nil
		c.logChange(&ts.log, "snapshots", err, "msg", "snapshot collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	}
}

type errUnfinished struct{ timeout time.Duration }

func (e errUnfinished) Error() string {
	return "not finished within refresh_timeout (" + e.timeout.String() + "); the data shown is from the last read that finished"
}
