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
// golang.org/x/sync/semaphore cannot change its size, which a reload must, hence this type.
// Waiters are served in arrival order: giving each credential set a share of the bound, with
// unused share lent, comes down to choosing the waiter that grant serves next.
type Slots struct {
	mu      sync.Mutex
	size    int
	used    int
	waiters queue.List // of *slotWaiter, oldest first
}

type slotWaiter struct {
	ready chan struct{} // closed once the slot is granted
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

// acquire waits for a slot, or until ctx is done.
func (s *Slots) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.used < s.size && s.waiters.Len() == 0 {
		s.used++
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{ready: make(chan struct{})}
	e := s.waiters.PushBack(w)
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
		s.used--
		s.grant()
	default:
		s.waiters.Remove(e)
		// Leaving may let the waiters behind this one in (after a Resize, say).
		s.grant()
	}
	return ctx.Err()
}

// release gives a slot back.
func (s *Slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	s.grant()
}

// releaseAfter gives a slot back once d has passed.
func (s *Slots) releaseAfter(d time.Duration) { time.AfterFunc(d, s.release) }

// grant hands free slots to the waiters, oldest first; s.mu must be held.
func (s *Slots) grant() {
	for s.used < s.size && s.waiters.Len() > 0 {
		w := s.waiters.Remove(s.waiters.Front()).(*slotWaiter)
		s.used++
		close(w.ready)
	}
}
