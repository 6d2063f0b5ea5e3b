// Package estate is the refresh engine: it decides what to read from Atlas and when, keeps what
// it read, and publishes it as an immutable, versioned View. It knows nothing of Prometheus: the
// collector renders the View.
//
// Each credential set (one per Atlas organisation) has its own engine, a setEngine, reading the
// configuration's entries of that set with the set's fetcher; Engine runs them side by side
// (sets.go). A refresh of a set runs when a scrape asks for one and its data is older than the
// minimum refresh interval; it reads the snapshots of every known target. Discovery (which
// projects the configuration selects and which clusters they hold) has its own, longer cadence:
// it runs in full every discovery interval, and for one project whenever Atlas says that
// something in it changed (a new cluster in the all-projects cluster listing, a cluster
// answering that it does not exist). Job listings and compliance policies have theirs (jobs.go).
package estate

import (
	"context"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// setEngine refreshes what is known of the part of the estate one credential set reads, and
// publishes it (View).
type setEngine struct {
	logger log.Logger
	now    func() time.Time
	life   context.Context // ends when the exporter stops or the set goes; refreshes derive from it
	stop   context.CancelFunc
	name   string  // of the credential set; "" for the atlas section's
	claims *claims // the projects every set selects, for the sets to read each once; nil: all

	// orgs are the organisations of the set's projects, by id (orgs.go).
	orgs map[string]*orgState

	mu       sync.Mutex
	fetcher  Fetcher
	settings Settings // in force; a refresh reads its own copy (refresh.settings)
	// generation changes with the data source (credentials, base URL): results of refreshes
	// against an older one are dropped. selection changes with what the configuration selects:
	// refreshes under an older one still deliver snapshot data, but no longer decide which
	// targets exist. cycle numbers the refreshes.
	generation, selection, cycle int
	// version changes whenever what View shows does (newVersion), and changes (the Engine's)
	// says so.
	version      uint64
	changes      chan<- struct{}
	lastStart    time.Time
	queued       bool     // a reconfiguration asked for a refresh at once
	running      *refresh // the refresh under way; nil when none runs
	ready        bool
	up           bool
	lastSuccess  time.Time // when a refresh with up last finished
	lastDur      time.Duration
	phases       uint64    // snapshot phases ended
	discoveredAt time.Time // start of the last full discovery
	rediscover   bool      // a full discovery is due at the next refresh
	lastRequests map[string]float64
	entries      map[string]*entryState // by selector
	projects     map[string]*projectState
	targets      map[atlas.Target]*targetState
	byProject    map[string]map[atlas.Target]*targetState // targets, per project id
	notFound     map[atlas.Target]int                     // cycle in which Atlas said the target does not exist
	missing      map[MissingTarget]bool
	clusterNames map[string]map[string]bool // per project: names in the last all-projects cluster listing
	log          logBook                    // what was logged about the exporter as a whole
	view         *View                      // the last View built
	// stored are the baselines the state file kept, for the first listings after a start;
	// baseChanges counts the changes of the targets' baselines, for the file to be written
	// when they changed; phaseEnded, when set, runs after each snapshot phase (to write it).
	stored      map[atlas.Target]storedBase
	baseChanges uint64
	phaseEnded  func()
}

// newSetEngine returns the engine of credential set name, reading s's entries of that set with f.
// life bounds refreshes; now is the clock (time.Now in production, fixed in tests); claims
// tells it which projects another set reads (nil: none); changes is signalled at each new version.
func newSetEngine(life context.Context, logger log.Logger, name string, f Fetcher, s Settings, now func() time.Time, c *claims, changes chan<- struct{}) *setEngine {
	life, stop := context.WithCancel(life)
	return &setEngine{
		logger: logger, now: now, life: life, stop: stop, name: name, claims: c, orgs: map[string]*orgState{}, fetcher: f, settings: s,
		entries: map[string]*entryState{}, projects: map[string]*projectState{}, targets: map[atlas.Target]*targetState{},
		byProject: map[string]map[atlas.Target]*targetState{}, notFound: map[atlas.Target]int{}, missing: map[MissingTarget]bool{},
		clusterNames: map[string]map[string]bool{}, lastRequests: map[string]float64{}, changes: changes,
	}
}

// newVersion says that what View shows changed. e.mu must be held.
func (e *setEngine) newVersion() {
	e.version++
	select {
	case e.changes <- struct{}{}:
	default: // a change not yet received covers this one
	}
}

// Reconfigure applies a reloaded configuration. f is the fetcher to use from now on: the same
// one when the credentials and base URL did not change, so that its token and rate limiters
// stay, and the refresh under way still counts. A new fetcher means a new data source: what
// refreshes under the old one still bring is dropped, and which endpoints are gone is learnt
// anew. A change of what the configuration selects starts a full rediscovery at once (after a
// refresh under way); the data shown stays until then. It reports whether a refresh starts
// after it: started now, or queued.
func (e *setEngine) Reconfigure(f Fetcher, s Settings) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.settings
	e.settings = s
	e.newVersion()
	newSource := f != e.fetcher
	if newSource {
		// Another host or other credentials may see other projects and clusters.
		e.fetcher = f
		e.generation++
		e.queued, e.rediscover = true, true
		for t, ts := range e.targets {
			ts.gone = nil // learnt from the old source
			e.changed(t, ts)
		}
		e.dropBaselines()
	}
	e.reconfigureJobs(old, s, newSource)
	if old.Named != s.Named {
		// Projects are shown with their organisation and set, or without.
		for _, ps := range e.projects {
			e.projectChanged(ps)
		}
	}
	if !sameSelection(old, s) {
		// Selectors the configuration no longer has are resolved no more.
		keep := map[string]bool{}
		for _, entry := range s.Projects {
			keep[entry.Selector()] = true
		}
		for sel := range e.entries {
			if !keep[sel] {
				delete(e.entries, sel)
				e.claims.drop(e.name, sel)
			}
		}
		e.selection++
		e.dropBaselines()
		e.stored = nil
		e.rediscover, e.queued = true, true
		// A new selection may want schedules read, and a policy may have changed meanwhile.
		for _, ts := range e.targets {
			ts.scheduleAt = time.Time{}
		}
	}
	if e.queued && e.running == nil {
		e.start()
		return true
	}
	return e.queued
}

// Ready reports whether the first refresh has finished.
func (e *setEngine) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready
}

// begin starts a refresh if the data is older than the minimum refresh interval and none is
// under way, and returns what is closed when the snapshot phase of the refresh under way ends;
// nil when none is.
func (e *setEngine) begin() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.running
	if r == nil {
		if !e.queued && !e.lastStart.IsZero() && e.now().Sub(e.lastStart) < e.settings.MinRefreshInterval {
			return nil
		}
		r = e.start()
	}
	return r.done
}

// WaitIdle waits until no refresh is under way (one a reconfiguration queued included), or ctx
// is done. Scrapes never need it: the harness and tests that count what a refresh sent do.
func (e *setEngine) WaitIdle(ctx context.Context) {
	for ctx.Err() == nil {
		e.mu.Lock()
		r := e.running
		e.mu.Unlock()
		if r == nil {
			return
		}
		select {
		case <-r.idle:
		case <-ctx.Done():
		}
	}
}

// start begins a refresh in the background; e.mu must be held and no refresh be running.
func (e *setEngine) start() *refresh {
	e.queued = false
	e.lastStart = e.now()
	e.cycle++
	r := &refresh{
		e: e, fetcher: e.fetcher, settings: e.settings, generation: e.generation, selection: e.selection,
		cycle: e.cycle, start: e.lastStart, requestsBefore: e.fetcher.RequestsSent(), done: make(chan struct{}), idle: make(chan struct{}),
		delivered: map[atlas.Target]bool{}, listings: map[string]*shared[atlas.ClusterList]{},
		byName: map[string]*shared[atlas.Project]{}, policies: map[string]*shared[*atlas.CompliancePolicy]{},
		orgReads: map[string]bool{}, selected: map[string]map[string]atlas.Cluster{},
	}
	e.running = r
	r.plan()
	discovery := "changes" // the all-projects cluster listing, then what is due
	if r.full {
		discovery = "full"
	}
	level.Debug(e.logger).Log("msg", "refresh started", "credentials", config.SetName(e.name), "cycle", r.cycle, "discovery", discovery,
		"projects_due", len(r.dueProjects), "entries_due", len(r.dueEntries), "targets_known", len(e.targets))
	rctx, cancel := context.WithTimeout(e.life, r.settings.RefreshTimeout)
	go func() {
		r.run(rctx)
		e.finish(r)
		if e.phaseEnded != nil {
			e.phaseEnded()
		}
		// The next refresh starts once this one's job reads are over: one refresh at a time
		// reads a target's jobs, and asks again where Atlas refused them.
		r.jobs.Wait() // the reads honour rctx: at refresh_timeout at the latest
		// Whatever the refresh left waiting (a pause of a rate-limited bucket) ends with it.
		cancel()
		e.end(r)
	}()
	return r
}

// finish ends a refresh's snapshot phase and releases the scrapes waiting for it: it fails the
// targets it did not finish, drops what the cycle no longer saw, works out which configured
// targets Atlas does not show, and records the exporter's health.
func (e *setEngine) finish(r *refresh) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer close(r.done)
	if r.generation != e.generation {
		return
	}
	e.newVersion()
	e.logNotices(r.fetcher.Notices())
	if !r.complete {
		e.failUnfinished(r)
	}
	if r.complete && r.selection == e.selection {
		e.prune(r)
	}
	if r.selection == e.selection {
		e.dropOthers()
		e.updateMissing(r.settings)
	}
	e.forgetBaselines(r)
	e.releaseHeld(r)
	e.stored = nil // the first listings after the start have had it
	r.mu.Lock()
	refused := r.authFailed
	e.up = r.successes > 0 && !refused
	r.mu.Unlock()
	if refused && r.selection == e.selection {
		// The other sets selecting its projects read them until its entries resolve again.
		e.claims.release(e.name)
		for _, es := range e.entries {
			es.again = true
		}
	}
	if e.up {
		e.lastSuccess = e.now()
	}
	e.lastDur = e.now().Sub(r.start)
	e.ready = true
	e.phases++
	level.Debug(e.logger).Log("msg", "refresh snapshot phase ended", "credentials", config.SetName(e.name), "cycle", r.cycle,
		"targets_read", len(r.delivered), "complete", r.complete, "up", e.up, "duration", e.lastDur)
}

// end ends a refresh once its job reads are over: those refresh_timeout cut fail, the requests
// of the whole refresh are counted, and a refresh a reconfiguration queued starts.
func (e *setEngine) end(r *refresh) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer close(r.idle)
	e.running = nil
	if r.generation == e.generation {
		r.failUnfinishedJobs()
		requests := r.fetcher.RequestsSent() - r.requestsBefore
		e.lastRequests[r.discoveryKind()] = float64(requests)
		e.newVersion()
		level.Debug(e.logger).Log("msg", "refresh ended", "credentials", config.SetName(e.name), "cycle", r.cycle,
			"discovery", r.discoveryKind(), "requests", requests, "duration", e.now().Sub(r.start))
	}
	if e.queued && e.life.Err() == nil {
		e.start()
	}
}

// prune drops the projects and targets a complete refresh no longer saw, and records which
// clusters its entries selected and when the last full discovery started. e.mu must be held.
func (e *setEngine) prune(r *refresh) {
	for id, ps := range e.projects {
		if ps.seen != r.cycle {
			e.dropProject(id)
			continue
		}
		ps.selected = r.selected[id]
		ps.view = nil
	}
	for t, ts := range e.targets {
		if ts.seen != r.cycle {
			e.dropTarget(t)
		}
	}
	e.pruneOrganizations()
	if r.full {
		e.discoveredAt = r.start
	}
}

// dropOthers drops the projects another set reads now (claims) once it has listed them, after a
// refresh cut short as after a complete one: what this set read of them before is shown no
// more, and shown until the other set shows them. e.mu must be held.
func (e *setEngine) dropOthers() {
	for id := range e.projects {
		if names, other := e.claims.listedBy(e.name, id); other && names != nil {
			e.dropProject(id)
		}
	}
}

// failUnfinished marks the targets a refresh cut short by its timeout did not read (a request
// still running, or a discovery it was waiting for) as failed: their data is as old as before,
// and their collection must say so. e.mu must be held.
func (e *setEngine) failUnfinished(r *refresh) {
	err := errUnfinished{r.settings.RefreshTimeout}
	for t, ts := range e.targets {
		if r.delivered[t] {
			continue
		}
		ts.ok = false
		e.changed(t, ts)
		e.logChange(&ts.log, topicSnapshots, err, "msg", "snapshot collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	}
}

type errUnfinished struct{ timeout time.Duration }

func (e errUnfinished) Error() string {
	return "not finished within refresh_timeout (" + e.timeout.String() + "); the data shown is from the last read that finished"
}

// logNotices logs each operation and version Atlas says is deprecated, once; e.mu must be held.
func (e *setEngine) logNotices(heard []atlas.Notice) {
	for _, n := range heard {
		e.warnOnce(&e.log, noticeTopic(n.Operation, n.Version), "msg", "Atlas says an API version the exporter sends is deprecated; upgrade the exporter before the sunset date",
			"operation", n.Operation, "version", n.Version, "deprecation_date", atlas.DayOf(n.Deprecation), "sunset_date", atlas.DayOf(n.Sunset))
	}
}
