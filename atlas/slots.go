package atlas

import (
	queue "container/list"
	"context"
	"sync"
	"time"
)

// Slots bounds the HTTP requests in flight to Atlas across every client that shares it: one
// process, one bound, whatever reloads rebuild. A call takes a slot before its request's
// timeout starts (the timeout measures Atlas, not the queue) and gives it back once the
// exchange is over: answer read and closed, digest challenge or token request included. A call
// never holds a slot while it waits out a backoff, a pause or the rate limiter.
//
// Calls made in the background (the job reads that follow a target's snapshots) hold at most
// half the slots (one at least), and a waiting call of the foreground (discovery, snapshots,
// schedules) goes ahead of them: job listings that hang, each keeping its slot for two
// timeouts, can slow the job reads down, never the snapshots.
//
// The bound is shared by the credential sets (Divide), each drawing from its own share
// (Config.Share): each set has a reserve of the bound divided by the number of sets (one at
// least) that its waiting calls take ahead of the others', and borrows what another set is not
// using. A set whose call went unanswered past its timeout (its Atlas hangs) is probed: it holds
// one slot at most, taken only when a slot is free that no other call waits for, once the
// probe has waited probeQuiet and the set has held no slot for that long (so not at the start of
// a refresh of all sets, ahead of the others' calls, and one probe per timeout at most), until
// a call of it is answered. So a hanging organisation never takes a slot another's waiting call
// could have, and keeps at most one from a refresh of another that needs every slot; and one
// that answers again is probed as soon as a slot is free, however busy the others keep the rest.
// With fewer than two sets the bound is one share, as for a single set of credentials.
//
// golang.org/x/sync/semaphore can neither change its size, which a reload must, nor choose
// between waiters, hence this type. Waiters are served in arrival order within each rule.
type Slots struct {
	mu         sync.Mutex
	size       int
	used       int
	background int // slots held by background calls
	seq        uint64
	shares     map[string]*share
	declared   int // shares Divide named
	// quiet is how long a probe waits (probeQuiet), and waking whether a grant is due then.
	quiet  time.Duration
	waking bool
}

// probeQuiet is how long a probed set's call must have waited, and the set have held no slot,
// before it goes: longer than the start of the sets' refreshes a scrape begins together, far
// shorter than between refreshes.
const probeQuiet = time.Second

// share is one credential set's part of the bound.
type share struct {
	declared bool
	used     int  // slots its calls hold, background included
	probed   bool // a call went unanswered past its timeout, and none was answered since
	// lastGiven is when it last gave a slot back.
	lastGiven time.Time
	// waiters are its calls waiting for a slot, oldest first: of the foreground [0] and of
	// the background [1].
	waiters [2]queue.List
}

type slotWaiter struct {
	ready      chan struct{} // closed once the slot is granted
	background bool
	seq        uint64    // arrival order across shares
	arrived    time.Time // for a probe, which waits s.quiet at least
	share      *share
}

// slot is a slot a call holds; it gives it back once.
type slot struct {
	s          *Slots
	share      *share
	background bool
}

// NewSlots returns a bound of n requests in flight (DefaultMaxConcurrency when n < 1).
func NewSlots(n int) *Slots {
	return &Slots{size: sizeOr(n), shares: map[string]*share{}, quiet: probeQuiet}
}

func sizeOr(n int) int {
	if n < 1 {
		return DefaultMaxConcurrency
	}
	return n
}

// Resize changes the bound to n (DefaultMaxConcurrency when n < 1). Requests in flight go on;
// when n is smaller than them, new calls wait until fewer than n remain.
func (s *Slots) Resize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = sizeOr(n)
	s.grant()
}

// Divide shares the bound between the credential sets names, each the Config.Share of its
// clients' calls: each gets a reserve of the bound divided by their number, one at least. The
// calls of a share Divide no longer names (a set a reload removed) go on, on borrowed slots.
func (s *Slots) Divide(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
		s.shareOf(n)
	}
	s.declared = len(keep)
	for n, sh := range s.shares {
		sh.declared = keep[n]
		if !sh.declared && sh.used == 0 && sh.waiters[0].Len()+sh.waiters[1].Len() == 0 {
			delete(s.shares, n)
		}
	}
	s.grant()
}

// shareOf is the share named name, created on first use; s.mu must be held.
func (s *Slots) shareOf(name string) *share {
	sh := s.shares[name]
	if sh == nil {
		sh = &share{}
		s.shares[name] = sh
	}
	return sh
}

// divided says whether the bound is shared between two sets or more; s.mu must be held.
func (s *Slots) divided() bool { return s.declared >= 2 }

// probing says whether sh is held to a probe: there is another set to keep its slots for.
// s.mu must be held.
func (s *Slots) probing(sh *share) bool { return sh.probed && s.divided() }

// reserve is how many slots sh's waiting calls take ahead of other shares'; s.mu must be held.
func (s *Slots) reserve(sh *share) int {
	switch {
	case !s.divided():
		return s.size
	case s.probing(sh), !sh.declared:
		return 0
	}
	return max(1, s.size/s.declared)
}

// acquire waits for a slot for a call of share name, or until ctx is done. A call in the
// background (a call of asBackground(ctx)) waits behind every call of the foreground and within
// the background's share.
func (s *Slots) acquire(ctx context.Context, name string) (*slot, error) {
	s.mu.Lock()
	s.seq++
	sh := s.shareOf(name)
	w := &slotWaiter{ready: make(chan struct{}), background: inBackground(ctx), seq: s.seq, arrived: time.Now(), share: sh}
	q := &sh.waiters[class(w.background)]
	e := q.PushBack(w)
	s.grant()
	s.mu.Unlock()
	sl := &slot{s: s, share: sh, background: w.background}
	select {
	case <-w.ready:
		return sl, nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.ready:
		// Granted as ctx ended: pass it on.
		s.give(sl, false)
	default:
		q.Remove(e)
		// Leaving may let the waiters behind this one in (after a Resize, say).
		s.grant()
	}
	return nil, ctx.Err()
}

func class(background bool) int {
	if background {
		return 1
	}
	return 0
}

// release gives the slot back; answered says that Atlas answered the call, which ends a probe
// of its share.
func (sl *slot) release(answered bool) {
	sl.s.mu.Lock()
	defer sl.s.mu.Unlock()
	sl.s.give(sl, answered)
}

// releaseAfter gives the slot of a call Atlas left unanswered past its timeout back once d has
// passed; its share is probed from now on.
func (sl *slot) releaseAfter(d time.Duration) {
	sl.s.mu.Lock()
	sl.share.probed = true
	sl.s.mu.Unlock()
	time.AfterFunc(d, func() { sl.release(false) })
}

// give returns a slot and hands it on; s.mu must be held.
func (s *Slots) give(sl *slot, answered bool) {
	sl.share.lastGiven = time.Now()
	s.used--
	sl.share.used--
	if sl.background {
		s.background--
	}
	if answered {
		sl.share.probed = false
	}
	s.grant()
}

// grant hands free slots to the waiters; s.mu must be held.
func (s *Slots) grant() {
	for s.used < s.size {
		w := s.next()
		if w == nil {
			return
		}
		sh := w.share
		sh.waiters[class(w.background)].Remove(sh.waiters[class(w.background)].Front())
		s.used++
		sh.used++
		if w.background {
			s.background++
		}
		close(w.ready)
	}
}

// next is the waiter a free slot goes to: the oldest first of, in turn, the foreground calls of
// shares within their reserve, the background calls of such shares, the foreground calls of
// shares borrowing, the background calls of those; background calls only while the background
// holds less than half the slots; last, when no other call could take the slot, the oldest call
// of a probed share that holds none, once it has waited s.quiet and the share has held none for
// as long. s.mu must be held.
func (s *Slots) next() *slotWaiter {
	type rule struct{ background, borrow bool }
	for _, r := range []rule{{false, false}, {true, false}, {false, true}, {true, true}} {
		if r.background && s.background >= max(1, s.size/2) {
			continue
		}
		var best *slotWaiter
		for _, sh := range s.shares {
			e := sh.waiters[class(r.background)].Front()
			if e == nil || s.probing(sh) || (sh.used < s.reserve(sh)) == r.borrow {
				continue
			}
			if w := e.Value.(*slotWaiter); best == nil || w.seq < best.seq {
				best = w
			}
		}
		if best != nil {
			return best
		}
	}
	var probe *slotWaiter
	var wait time.Duration // until the first probe not yet due is
	for _, sh := range s.shares {
		if !s.probing(sh) || sh.used > 0 {
			continue
		}
		for c := range sh.waiters {
			e := sh.waiters[c].Front()
			if e == nil {
				continue
			}
			w := e.Value.(*slotWaiter)
			if d := s.quiet - time.Since(latest(sh.lastGiven, w.arrived)); d > 0 {
				if wait == 0 || d < wait {
					wait = d
				}
			} else if probe == nil || w.seq < probe.seq {
				probe = w
			}
		}
	}
	if probe == nil && wait > 0 && !s.waking {
		// Not yet: look again once it is due.
		s.waking = true
		time.AfterFunc(wait, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.waking = false
			s.grant()
		})
	}
	return probe
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

type backgroundKey struct{}

// asBackground marks the calls made with the returned context as background work, which waits
// behind the foreground's calls for a slot and holds at most half of them.
func asBackground(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

func inBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}
