package atlas

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// One organisation's Atlas left a single call unanswered past its timeout, then recovered; the
// other organisation is busy (back-to-back refreshes of a large estate, or job listings that
// run to refresh_timeout), never without a call in flight, using 2 of the 4 slots. The
// recovered organisation's probe needs a free slot, not an idle process: it goes once it has
// waited probeQuiet, is answered, and the whole refresh is read within its refresh_timeout.
func TestProbedSetTakesAFreeSlotWhileAnotherIsBusy(t *testing.T) {
	t.Parallel() // waits on a slow fake Atlas of its own
	est, reqs := flexTargets(10)
	busy := newFake(t, atlastest.Options{Estate: est, Latency: 20 * time.Millisecond})
	recovered := newFake(t, atlastest.Options{Estate: est})
	recovered.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Hang: true, Times: 1})
	slots := NewSlots(4)
	slots.Divide("busy", "recovered")
	client := func(srv *atlastest.Server, share string) *Client {
		c, _ := newTestClient(t, srv, func(c *Config) {
			c.Slots, c.Share, c.Timeout, c.Retry = slots, share, 300*time.Millisecond, RetryPolicy{MaxAttempts: 1}
		})
		return c
	}
	b, r := NewFetcher(client(busy, "busy")), NewFetcher(client(recovered, "recovered"))

	// The one call that hangs: the set is probed from now on.
	r.Fetch(t.Context(), reqs[:1], func(res Result) {
		if res.Err == nil {
			t.Error("the hanging call succeeded")
		}
	}, nil, nil)
	slots.mu.Lock()
	probed := slots.shares["recovered"].probed
	slots.mu.Unlock()
	if !probed {
		t.Fatal("the set whose call hung is not probed")
	}

	// The busy organisation: two refreshes always under way, each a target at a time.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ctx.Err() == nil; j++ {
				b.Fetch(ctx, reqs[(i+j)%len(reqs):(i+j)%len(reqs)+1], func(Result) {}, nil, nil)
			}
		}()
	}
	// The recovered organisation's refresh, bounded by its refresh_timeout.
	rctx, rcancel := context.WithTimeout(t.Context(), 5*time.Second)
	var mu sync.Mutex
	read := 0
	r.Fetch(rctx, reqs, func(res Result) {
		if res.Err == nil {
			mu.Lock()
			read++
			mu.Unlock()
		}
	}, nil, nil)
	rcancel()
	cancel()
	wg.Wait()
	// Reads cut by the refresh's end are not delivered: count those read.
	if read != len(reqs) {
		t.Errorf("%d of the recovered organisation's %d targets read while 2 of 4 slots were free; its Atlas was sent %d snapshot listings after the hang",
			read, len(reqs), recovered.Count("listGroupFlexClusterBackupSnapshots")-1)
	}
	if got := busy.MaxInFlight(); got > 2 {
		t.Errorf("the busy organisation had %d requests in flight, want 2 at most", got)
	}
}
