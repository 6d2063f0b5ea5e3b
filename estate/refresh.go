package estate

import (
	"context"
	"sync"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// refresh is one refresh cycle.
type refresh struct {
	e       *setEngine
	fetcher Fetcher
	// settings are the settings the refresh started with: it decides everything from them
	// (which selectors, projects and targets it reads, and how), so that a reload during the
	// refresh never mixes two configurations in one. The one exception is live.
	settings              Settings
	generation, selection int
	cycle                 int
	start                 time.Time
	requestsBefore        uint64
	// done is closed when the snapshot phase ends (discovery, and every target's snapshots and
	// schedule), which releases the scrapes waiting for the refresh; idle when the refresh ends,
	// its job reads included.
	done, idle chan struct{}

	// Decided when the refresh starts (under e.mu): a full discovery, or which projects and
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
	orgReads    map[string]bool                             // organisations asked for (under r.mu)
	// othersPlanned are the projects whose other sets' entries the refresh plans (under r.mu).
	othersPlanned map[string]bool
	selected      map[string]map[string]atlas.Cluster // per project, the clusters entries select (under e.mu)
	delivered     map[atlas.Target]bool               // under e.mu

	// probed holds the projects and refusal scopes Atlas refused, in which one target asks
	// again in this refresh (under e.mu).
	probed map[probe]bool
	// logged holds the job listings of served targets whose outcome this refresh logged
	// (under e.mu).
	logged map[servedRead]bool
	// jobs counts the job reads under way, which follow the snapshots they belong to.
	jobs sync.WaitGroup
}

// live are the settings in force now, which a reload may have changed since the refresh
// started. This is where a reload crosses a refresh: what a reload turns off (restore_jobs,
// export_jobs, compliance_policy) it has already forgotten (Reconfigure), and a read of it that
// the refresh brings afterwards must not bring it back; so whether such a read is kept is
// decided by the live settings, and everything else by the refresh's own. e.mu must be held.
func (r *refresh) live() Settings { return r.e.settings }

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

// lockCurrent takes e.mu and keeps it only while the engine still reads the data source the
// refresh started with: what a refresh against an older one brings is dropped.
func (r *refresh) lockCurrent() bool {
	r.e.mu.Lock()
	if r.generation != r.e.generation {
		r.e.mu.Unlock()
		return false
	}
	return true
}

// plan decides what the refresh discovers; e.mu must be held.
func (r *refresh) plan() {
	e := r.e
	r.full = e.rediscover || e.discoveredAt.IsZero() || r.start.Sub(e.discoveredAt) >= r.settings.DiscoveryInterval
	e.rediscover = false
	r.dueProjects, r.dueEntries = map[string]bool{}, map[string]bool{}
	for id, ps := range e.projects {
		if ps.rediscover || !ps.listed {
			r.dueProjects[id] = true
		}
	}
	for sel, es := range e.entries {
		if es.again || !es.resolved {
			r.dueEntries[sel] = true
		}
	}
}

// note counts what the result of a call says of Atlas itself, for up.
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
	// last ran). Job reads still running then do not make it incomplete: they go on, and those
	// refresh_timeout cuts report it in their listing alone (failUnfinishedJobs), so a job
	// listing that hangs at every refresh never holds back the rest.
	r.mu.Lock()
	r.complete = ctx.Err() == nil
	r.mu.Unlock()
}
