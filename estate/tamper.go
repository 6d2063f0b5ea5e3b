package estate

import (
	"context"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Snapshots deleted, or their retention cut, before their time: each complete listing of a
// watched target (one whose expiry is a retention date, atlas.Kind.ExpiryIsRetention, read by
// listing rather than by configured snapshot ids) is compared with the last one, its baseline.
// A completed snapshot of the baseline missing from the new listing while its expiry was still
// ahead counts as deleted early; one whose expiry moved earlier counts as shortened (atlas's
// GoneEarly and Shortened say by how much). When either is found, the cluster's schedule is read
// (or the one the same read brought is taken) to tell whether a policy edit accounts for it.
//
// The baseline is the listing itself: the target's snapshots, the same slice while Atlas lists
// them unchanged, so that it costs no memory of its own. There is none (nothing to compare
// with) after a start (unless the state file kept it, storage.go), a reload that changed the
// selection or the data source, a refresh that did not read the target (its project moved to
// another credential set), or a change of the endpoint it is read from. A listing that failed
// (a capped or shifted one included: atlas fails those) leaves it as it was; a cluster Atlas
// says is gone takes it with its target.

// Cause is what explains a snapshot deleted or its expiry shortened early.
type Cause int

// The causes, in the order of Causes.
const (
	// CausePolicy: the cluster's backup policy, read after the change, accounts for it
	// (atlas.Schedule.Accounts): an edit that applied a shorter retention or removed an item.
	CausePolicy Cause = iota
	// CauseUnexplained: nothing the exporter can read accounts for it.
	CauseUnexplained
	numCauses
)

// Causes name the causes, as the cause label does.
var Causes = [numCauses]string{"policy", "unexplained"}

// TamperView is what the comparison of a watched target's listings found.
type TamperView struct {
	Watched bool // the target's listings are compared
	// BaselineAt is when the listing the next comparison starts from was read; zero when
	// there is none.
	BaselineAt time.Time
	// DeletedEarly and Shortened count, by cause, the snapshots deleted and the expiries
	// shortened before their time since the target was first read; those found against the
	// state file's baseline from two refreshes later (heldRefreshes).
	DeletedEarly, Shortened [numCauses]uint64
}

// tamperState is a target's comparison state.
type tamperState struct {
	view TamperView
	// base is the last complete listing (nil: none), read as served.
	base   []atlas.Snapshot
	served atlas.Target
	held   heldCounts
}

// heldCounts are what a comparison with a baseline from the state file counted, held back from
// the counters (releaseHeld).
type heldCounts struct {
	deleted, shortened [numCauses]uint64
	cycle              int // of the refresh that counted them; 0: none held
}

// heldRefreshes is how many refreshes later what a comparison with a stored baseline counted
// is added to the counters, at the end of that refresh's snapshot phase.
//
// A restarted exporter's series are new to Prometheus (a new pod, a new instance), and
// increase() takes a new series' first sample as its start: a count there from the first sample
// never moves, and no alert or panel sees it. So the counters must be scraped at 0 before they
// take what the first refresh after a start found against the state file. The next refresh is
// too soon: the first is the exporter's own, at start, scraped or not, and the first
// scrape may come after min_refresh_interval, start the second and see it. Every later refresh
// is started by a scrape (or a reload) that sees it, and the scrapes until the next one see the
// same: held until the third, the counts are scraped at 0 by the scrape that started the second
// and by every one until the third, so by each Prometheus that scrapes more often than
// min_refresh_interval. The log lines are not held: they say when it was found.
const heldRefreshes = 2

// tamperFind is what one comparison found, to be explained out of the engine's lock.
type tamperFind struct {
	target    atlas.Target // as configured
	ts        *targetState
	at        time.Time // when the listing that showed it was read
	deleted   []atlas.Snapshot
	shortened []shortening
	stored    bool // compared with a baseline from the state file: counts are held
}

type shortening struct{ was, now atlas.Snapshot }

// maxLoggedIDs is how many snapshot ids the line about a cluster's shortened expiries names.
const maxLoggedIDs = 10

// compare compares the listing res brought with the target's baseline, makes it the baseline,
// and returns what it found (nil for nothing). e.mu must be held, and snaps be what becomes
// ts.snapshots.
func (r *refresh) compare(t atlas.Target, ts *targetState, res atlas.Result, snaps []atlas.Snapshot) *tamperFind {
	e := r.e
	tp := &ts.tamper
	if len(res.Read.SnapshotIDs) > 0 || !res.Served.Kind.ExpiryIsRetention() {
		*tp = tamperState{}
		return nil
	}
	tp.view.Watched = true
	base, was := tp.base, tp.served
	tp.base, tp.served, tp.view.BaselineAt = nil, atlas.Target{}, time.Time{}
	if r.selection != e.selection {
		return nil // read under a selection a reload changed since: the next listing is the first
	}
	now := e.now()
	sb, stored := e.stored[t]
	stored = stored && base == nil
	if stored {
		delete(e.stored, t)
		base, was = sb.base, sb.served
	}
	if !sameSlice(base, snaps) {
		e.baseChanges++
	}
	tp.base, tp.served, tp.view.BaselineAt = snaps, res.Served, now
	ps := e.projects[t.ProjectID]
	if base == nil || was != res.Served || ps == nil || !ps.names[t.Cluster] || sameSlice(base, snaps) {
		return nil
	}
	byID := make(map[string]int, len(snaps))
	for i, s := range snaps {
		byID[s.ID] = i
	}
	f := &tamperFind{target: t, ts: ts, at: now, stored: stored}
	for _, b := range base {
		if b.Status != atlas.StatusCompleted {
			continue
		}
		i, listed := byID[b.ID]
		switch {
		case !listed && atlas.GoneEarly(b.ExpiresAt, now):
			f.deleted = append(f.deleted, b)
		case listed && atlas.Shortened(b.ExpiresAt, snaps[i].ExpiresAt):
			f.shortened = append(f.shortened, shortening{b, snaps[i]})
		}
	}
	if len(f.deleted) == 0 && len(f.shortened) == 0 {
		return nil
	}
	return f
}

// sameSlice reports whether a and b are the same slice: Atlas listed the same snapshots.
func sameSlice(a, b []atlas.Snapshot) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// explain reads the cluster's schedule for what f found (the one res brought, if it brought
// one: it is as new), and counts and logs each snapshot by cause.
func (r *refresh) explain(ctx context.Context, f *tamperFind, res atlas.Result) {
	sched := res.Schedule
	var err error
	if sched == nil && res.Served.Kind.HasSchedule() {
		var s atlas.Schedule
		if s, err = r.fetcher.Schedule(ctx, res.Served); err == nil {
			sched = &s
		}
	}
	e := r.e
	if !r.lockCurrent() {
		return
	}
	defer e.mu.Unlock()
	t, ts := f.target, f.ts
	if e.targets[t] != ts {
		return // dropped meanwhile
	}
	if sched != nil && sched != res.Schedule && r.settings.BackupSchedules {
		ts.schedule, ts.scheduleAt = sched, e.now()
	}
	p := ts.project
	labels := []any{"project_id", t.ProjectID, "project", p.Name, "cluster", t.Cluster, "kind", res.Served.Kind}
	if err != nil {
		level.Warn(e.logger).Log(append([]any{"msg", "backup schedule could not be read to explain snapshots deleted or shortened early; counted as unexplained"},
			append(labels, "err", err)...)...)
	}
	cause := func(s atlas.Snapshot, by time.Time) Cause {
		if sched != nil && sched.Accounts(s.Frequency, s.IsScheduled(), s.CreatedAt, by) {
			return CausePolicy
		}
		return CauseUnexplained
	}
	deleted, shortened := &ts.tamper.view.DeletedEarly, &ts.tamper.view.Shortened
	if f.stored {
		h := &ts.tamper.held
		deleted, shortened, h.cycle = &h.deleted, &h.shortened, r.cycle
	}
	for _, s := range f.deleted {
		c := cause(s, f.at)
		deleted[c]++
		level.Warn(e.logger).Log(append([]any{"msg", "snapshot deleted before its expiry"}, append(labels, "snapshot_id", s.ID,
			"created_at", s.CreatedAt.UTC().Format(time.RFC3339), "expires_at", s.ExpiresAt.UTC().Format(time.RFC3339),
			"frequency", s.Frequency, "cause", Causes[c])...)...)
	}
	if len(f.shortened) > 0 {
		var n [numCauses]int
		var ids []string // the first few, for the line to stay a line
		for _, sh := range f.shortened {
			c := cause(sh.now, sh.now.ExpiresAt)
			shortened[c]++
			n[c]++
			if len(ids) < maxLoggedIDs {
				ids = append(ids, sh.was.ID)
			}
		}
		level.Warn(e.logger).Log(append([]any{"msg", "snapshots' expiry shortened"}, append(labels, "snapshots", len(f.shortened),
			"unexplained", n[CauseUnexplained], "policy", n[CausePolicy], "snapshot_ids", strings.Join(ids, ","))...)...)
	}
	e.changed(t, ts)
}

// releaseHeld adds to the counters what was held heldRefreshes refreshes before r. e.mu must be
// held.
func (e *setEngine) releaseHeld(r *refresh) {
	for t, ts := range e.targets {
		h := &ts.tamper.held
		if h.cycle == 0 || r.cycle-h.cycle < heldRefreshes {
			continue
		}
		for c := range numCauses {
			ts.tamper.view.DeletedEarly[c] += h.deleted[c]
			ts.tamper.view.Shortened[c] += h.shortened[c]
		}
		*h = heldCounts{}
		e.changed(t, ts)
	}
}

// forgetBaselines drops the baselines of the targets refresh r did not read: their next listing
// is the first. e.mu must be held.
func (e *setEngine) forgetBaselines(r *refresh) {
	for t, ts := range e.targets {
		if ts.seen != r.cycle && ts.tamper.base != nil {
			ts.tamper.base, ts.tamper.view.BaselineAt = nil, time.Time{}
			e.baseChanges++
			e.changed(t, ts)
		}
	}
}

// dropBaselines drops every target's baseline (a reload changed the selection or the data
// source). e.mu must be held.
func (e *setEngine) dropBaselines() {
	for t, ts := range e.targets {
		if ts.tamper.base != nil {
			ts.tamper.base, ts.tamper.view.BaselineAt = nil, time.Time{}
			e.baseChanges++
			e.changed(t, ts)
		}
	}
}
