package estate

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Sources are the fetchers of the credential sets, by set name: one per set the settings'
// projects name ("" for the atlas section's).
type Sources map[string]Fetcher

// Engine refreshes what is known of the estate and publishes it (View). It runs one setEngine
// per credential set, each with its own fetcher (its Atlas session), refresh cycle, discovery
// cadence, missing targets, job reads and reload: one organisation's revoked credentials,
// 429s or outage never hold back or fail another's refresh. A scrape starts every set's refresh
// that is due and waits for them all (or its deadline). A project two sets select is read by
// the first of them in the sets' order, the order the configuration's entries first name them,
// with what every set's entries select in it (claims.go), and the views merge (merge.go).
type Engine struct {
	logger log.Logger
	now    func() time.Time
	life   context.Context
	claims *claims

	mu       sync.Mutex
	settings Settings
	sets     []*setEngine // in the sets' order
	ready    bool         // every set's first refresh had finished once
	// version numbers the merged views; from are the sets' views and the overlaps' changes the
	// last one was merged from.
	version  uint64
	changes  chan struct{} // a set's new version, or a change of the sets, signals it
	from     []*View
	overlaps uint64
	view     *View
	// storage writes the state file (storage.go); nil without one. stored are the baselines
	// it kept, per set, until the sets' engines take them at start.
	storage *storage
	stored  map[string]map[atlas.Target]storedBase
	// phases are the snapshot phases ended in every set, the removed ones' included (the
	// merged Health.Phases, which only goes up), and setPhases each set's as last merged.
	phases    uint64
	setPhases map[*setEngine]uint64
}

// New returns an engine reading s with the fetchers of src. life bounds refreshes; now is the
// clock (time.Now in production, fixed in tests).
func New(life context.Context, logger log.Logger, src Sources, s Settings, now func() time.Time) *Engine {
	e := &Engine{logger: logger, now: now, life: life, claims: newClaims(logger), changes: make(chan struct{}, 1)}
	if s.StoragePath != "" {
		e.openStorage(s.StoragePath, s.Shard)
	}
	e.Reconfigure(src, s)
	e.stored = nil
	return e
}

// openStorage reads the state file at path, whose baselines the sets' engines take at start,
// and writes it from now on.
func (e *Engine) openStorage(path string, shard Shard) {
	e.storage = &storage{path: path}
	stored, err := loadStorage(path, shard, e.now())
	if err != nil {
		level.Warn(e.logger).Log("msg", "state file ignored: the first listings are baselines, as after a start without one", "path", path, "err", err)
		return
	}
	n := 0
	for _, of := range stored {
		n += len(of)
	}
	level.Info(e.logger).Log("msg", "state file read", "path", path, "baselines", n)
	e.stored = stored
}

// saveState writes the state file if a baseline changed since it was last written.
func (e *Engine) saveState() {
	e.mu.Lock()
	shard := e.settings.Shard
	e.mu.Unlock()
	e.storage.save(e.running(), shard, e.logger)
}

// Reconfigure applies a reloaded configuration, set by set: src holds each set's fetcher from
// now on, the same one as before where the set's credentials and base URL did not change (see
// setEngine.Reconfigure). A set the configuration no longer names stops, and its series go; a
// new one starts, its first refresh at once (New's sets start theirs with the first Refresh). A
// set that reads a project another set read before refreshes at once.
func (e *Engine) Reconfigure(src Sources, s Settings) {
	e.mu.Lock()
	defer e.mu.Unlock()
	reload := e.sets != nil
	e.settings = s
	order := s.sets()
	before := e.claims.readers()
	e.claims.reorder(order, s.Projects)
	var next []*setEngine
	refreshes := map[*setEngine]bool{} // a refresh starts after the reconfiguration
	for _, name := range order {
		i := slices.IndexFunc(e.sets, func(se *setEngine) bool { return se.name == name })
		if i < 0 {
			se := newSetEngine(e.life, e.logger, name, src[name], s.of(name), e.now, e.claims, e.changes)
			se.stored = e.stored[name]
			if e.storage != nil {
				se.phaseEnded = e.saveState
			}
			if reload {
				se.refreshSoon()
				refreshes[se] = true
			}
			next = append(next, se)
			continue
		}
		refreshes[e.sets[i]] = e.sets[i].Reconfigure(src[name], s.of(name))
		next = append(next, e.sets[i])
		e.sets = slices.Delete(e.sets, i, i+1)
	}
	for _, gone := range e.sets {
		gone.stop()
	}
	e.sets = next
	// A project another set read is read by its new reader now, not a min_refresh_interval later.
	gained := map[string]bool{}
	for id, set := range e.claims.readers() {
		if before[id] != set {
			gained[set] = true
		}
	}
	for _, se := range next {
		if gained[se.name] && !refreshes[se] {
			se.refreshSoon()
		}
	}
	e.signal()
}

// refreshSoon starts a refresh at once, or once the one under way ends.
func (e *setEngine) refreshSoon() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.queued = true
	if e.running == nil {
		e.start()
	}
}

// Changes returns a channel that receives when the version of View changes: one receive
// stands for every change since the last, so a renderer that reads View after it sees them all.
func (e *Engine) Changes() <-chan struct{} { return e.changes }

// signal says that what View shows may have changed.
func (e *Engine) signal() {
	select {
	case e.changes <- struct{}{}:
	default: // a change not yet received covers this one
	}
}

// sets are the credential sets s's projects name, in the order they first do; one (the
// atlas section's) when they name none.
func (s Settings) sets() []string {
	var out []string
	for _, p := range s.Projects {
		if !slices.Contains(out, p.Credentials) {
			out = append(out, p.Credentials)
		}
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// of is s for credential set name: its projects entries only.
func (s Settings) of(name string) Settings {
	entries := s.Projects
	s.Projects = nil
	for _, p := range entries {
		if p.Credentials == name {
			s.Projects = append(s.Projects, p)
		}
	}
	return s
}

// running are the sets' engines now.
func (e *Engine) running() []*setEngine {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sets)
}

// Refresh brings every set's data up to date where it is older than the minimum refresh
// interval, sharing refreshes under way, and waits until their snapshot phases end or ctx is
// done (the scrape's deadline). The job reads that follow the snapshots go on after it, and so
// does a refresh ctx cut short, bounded by the refresh timeout: the scrape is served what has
// arrived so far, and what arrives later is in the views that follow.
func (e *Engine) Refresh(ctx context.Context) {
	var waits []<-chan struct{}
	for _, se := range e.running() {
		if done := se.begin(); done != nil {
			waits = append(waits, done)
		}
	}
	for _, done := range waits {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}

// WaitIdle waits until no set's refresh is under way, or ctx is done (setEngine.WaitIdle).
func (e *Engine) WaitIdle(ctx context.Context) {
	for _, se := range e.running() {
		se.WaitIdle(ctx)
	}
}

// Ready reports whether the first refresh of every set has finished, or had once: a set a reload
// adds does not take the exporter out of service while its first refresh runs (a set whose
// credentials a reload changes stays ready too).
func (e *Engine) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ready {
		for _, se := range e.sets {
			if !se.Ready() {
				return false
			}
		}
		e.ready = true
	}
	return true
}
