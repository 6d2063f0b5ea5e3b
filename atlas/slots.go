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
// golang.org/x/sync/semaphore cannot change its size, which a reload must, hence this type.
// Waiters are served in arrival order within their class: giving each credential set a share of
// the bound, with unused share lent, comes down to choosing the waiter that grant serves next.
type Slots struct {
	mu         sync.Mutex
	size       int
	used       int
	background int        // slots held by background calls
	waiters    queue.List // of *slotWaiter, oldest first
}

type slotWaiter struct {
	ready      chan struct{} // closed once the slot is granted
	background bool
}

// NewSlots returns a bound of n requests in flight (DefaultMaxConcurrency when n < 1).
func NewSlots(n int) *Slots {
	return &Slots{size: sizeOr(n)}
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

// acquire waits for a slot, or until ctx is done. A call in the background (a call of asBackground(ctx))
// waits behind every call of the foreground and within the background's share.
func (s *Slots) acquire(ctx context.Context) error {
	w := &slotWaiter{ready: make(chan struct{}), background: inBackground(ctx)}
	s.mu.Lock()
	e := s.waiters.PushBack(w)
	s.grant()
	s.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.ready:
		// Granted as ctx ended: pass it on.
		s.give(w.background)
	default:
		s.waiters.Remove(e)
		// Leaving may let the waiters behind this one in (after a Resize, say).
		s.grant()
	}
	return ctx.Err()
}

// release gives back a slot taken by a call of ctx.
func (s *Slots) release(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.give(inBackground(ctx))
}

// releaseAfter gives back a slot taken by a call of ctx once d has passed.
func (s *Slots) releaseAfter(ctx context.Context, d time.Duration) {
	background := inBackground(ctx)
	time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.give(background)
	})
}

// give returns a slot and hands it on; s.mu must be held.
func (s *Slots) give(background bool) {
	s.used--
	if background {
		s.background--
	}
	s.grant()
}

// grant hands free slots to the waiters: those of the foreground first, then those of the
// background within their share, each oldest first; s.mu must be held.
func (s *Slots) grant() {
	for _, background := range []bool{false, true} {
		for e := s.waiters.Front(); e != nil && s.used < s.size; {
			next := e.Next()
			w := e.Value.(*slotWaiter)
			if w.background == background && (!background || s.background < max(1, s.size/2)) {
				s.waiters.Remove(e)
				s.used++
				if background {
					s.background++
				}
				close(w.ready)
			}
			e = next
		}
	}
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
