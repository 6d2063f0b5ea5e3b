package atlas

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// tryAcquire takes a slot of share name unless none is granted within 50ms.
func tryAcquire(t *testing.T, s *Slots, ctx context.Context, name string) *slot {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	sl, _ := s.acquire(wctx, name)
	return sl
}

// acquireLater starts waiting for a slot of share name and says on got when it has one; it
// returns once the call waits.
func acquireLater(t *testing.T, s *Slots, name string, got chan<- string) {
	t.Helper()
	before := s.waiting()
	go func() {
		if _, err := s.acquire(t.Context(), name); err == nil {
			got <- name
		}
	}()
	for s.waiting() == before {
		time.Sleep(time.Millisecond)
	}
}

// Divided between two sets, the bound gives each a reserve of half the slots: a set borrows
// the other's while it is idle, and the other's waiting calls take freed slots ahead of older
// calls of the borrower until it has its reserve.
func TestSlotsShares(t *testing.T) {
	s := NewSlots(4)
	s.Divide("a", "b")
	var a []*slot
	for range 4 {
		sl := tryAcquire(t, s, t.Context(), "a")
		if sl == nil {
			t.Fatal("a waited while b was idle")
		}
		a = append(a, sl)
	}
	got := make(chan string, 4)
	acquireLater(t, s, "a", got)
	acquireLater(t, s, "b", got)
	acquireLater(t, s, "b", got)
	acquireLater(t, s, "b", got)
	for i, want := range []string{"b", "b", "a", "b"} {
		a[i].release(true)
		if name := <-got; name != want {
			t.Fatalf("freed slot %d went to %s, want %s", i+1, name, want)
		}
	}
}

// A set whose call went unanswered past its timeout is probed: it holds one slot at most, taken
// only when a slot is free that no other set's call waits for, until a call of it is answered.
// With one set (or none named), the same call changes nothing.
func TestSlotsProbeHangingSet(t *testing.T) {
	s := NewSlots(4)
	s.Divide("ok", "hangs")
	s.quiet = 0 // TestSlotsProbeWaitsForQuiet has it
	take := func(name string) *slot {
		t.Helper()
		sl := tryAcquire(t, s, t.Context(), name)
		if sl == nil {
			t.Fatalf("a call of %s waited", name)
		}
		return sl
	}
	h := take("hangs")
	h.releaseAfter(time.Hour) // its Atlas did not answer within the timeout
	ok := []*slot{take("ok"), take("ok"), take("ok")}
	if tryAcquire(t, s, t.Context(), "ok") != nil {
		t.Fatal("a fifth call went in with a bound of 4")
	}
	// The probe keeps its slot for one more timeout: the set takes no other, even free.
	ok[0].release(true)
	if tryAcquire(t, s, t.Context(), "hangs") != nil {
		t.Fatal("a probed set took a second slot")
	}
	h.release(false) // the hold is over
	ok[0] = take("ok")
	ok = append(ok, take("ok"))

	// Its next probe waits while a call of the other set waits for a slot, and goes as soon as
	// one is free that no other call waits for, though the other set keeps calls in flight.
	got := make(chan string, 3)
	acquireLater(t, s, "hangs", got)
	acquireLater(t, s, "ok", got)
	acquireLater(t, s, "ok", got)
	for i := range 2 {
		ok[i].release(true)
		if name := <-got; name != "ok" {
			t.Fatalf("a slot went to %s while ok waited", name)
		}
	}
	ok[2].release(true)
	select {
	case name := <-got:
		if name != "hangs" {
			t.Fatalf("a free slot went to %s, not to the probe", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the probe waited with a slot free while the other set had calls in flight")
	}
	// The probe is the set's one slot: a second call of it waits, though a slot is free.
	ok[3].release(true)
	if tryAcquire(t, s, t.Context(), "hangs") != nil {
		t.Fatal("a probed set took a second slot")
	}
	// Its probe answered, the set takes its reserve again.
	s.mu.Lock()
	probe := &slot{s: s, share: s.shares["hangs"]}
	s.mu.Unlock()
	probe.release(true)
	take("hangs")
	take("hangs")

	one := NewSlots(2)
	one.Divide("only")
	tryAcquire(t, one, t.Context(), "only").releaseAfter(time.Hour)
	if tryAcquire(t, one, t.Context(), "only") == nil {
		t.Fatal("a single set was held to a probe")
	}
}

// A probe waits a while after it arrived and its set last gave a slot back: not at once in a gap
// between another set's calls, which take the free slots ahead of it meanwhile.
func TestSlotsProbeWaitsForQuiet(t *testing.T) {
	s := NewSlots(2)
	s.Divide("ok", "hangs")
	s.quiet = 300 * time.Millisecond
	tryAcquire(t, s, t.Context(), "hangs").releaseAfter(0) // probed, its slot given back at once
	ok := tryAcquire(t, s, t.Context(), "ok")
	got := make(chan string, 1)
	acquireLater(t, s, "hangs", got)
	ok.release(true)
	select {
	case <-got:
		t.Fatal("the probe went at once after the other set's call")
	case <-time.After(50 * time.Millisecond):
	}
	if sl := tryAcquire(t, s, t.Context(), "ok"); sl == nil {
		t.Fatal("the other set waited for the probe")
	} else {
		sl.release(true)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the probe never went")
	}
}

// Clients of two organisations share one bound of 8. One organisation's Atlas hangs: once one
// of its calls has timed out, a refresh of the other organisation's 40 targets reads them on
// every slot, the hanging organisation's probe taking none while they wait, and never more than
// the bound in flight in all. Counts only: the harness measures the time (docs/scale.md).
func TestHangingOrganisationLeavesTheOtherTheSlots(t *testing.T) {
	est, reqs := flexTargets(40)
	good := newFake(t, atlastest.Options{Estate: est, Latency: 30 * time.Millisecond})
	hanging := newFake(t, atlastest.Options{Estate: est})
	hanging.SetFault("*", "", &atlastest.Fault{Hang: true})
	slots := NewSlots(8)
	slots.Divide("good", "hanging")
	client := func(srv *atlastest.Server, share string) *Client {
		c, _ := newTestClient(t, srv, func(c *Config) {
			c.Slots, c.Share, c.Timeout, c.Retry = slots, share, 300*time.Millisecond, RetryPolicy{MaxAttempts: 1}
		})
		return c
	}
	g, h := NewFetcher(client(good, "good")), NewFetcher(client(hanging, "hanging"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The hanging organisation's refresh: every target at once, without end.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			h.Fetch(ctx, reqs, func(Result) {}, nil, nil)
		}
	}()
	// Its first calls take its reserve and what it may borrow, then time out and keep their
	// slots one more timeout; then it holds one at most.
	probed := func() bool {
		slots.mu.Lock()
		defer slots.mu.Unlock()
		sh := slots.shares["hanging"]
		return sh != nil && sh.probed && sh.used <= 1
	}
	for deadline := time.Now().Add(20 * time.Second); !probed(); {
		if time.Now().After(deadline) {
			t.Fatal("the hanging organisation was never probed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	hanging.Reset()
	g.Fetch(t.Context(), reqs, func(r Result) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Read.Target.Cluster, r.Err)
		}
	}, nil, nil)
	sent := hanging.Count("")
	cancel()
	wg.Wait()
	if n := good.Count("listGroupFlexClusterBackupSnapshots"); n != 40 {
		t.Errorf("%d snapshot listings of the good organisation, want 40", n)
	}
	// The hanging organisation probes only with a slot free that no call of the other waits for,
	// and once a second (probeQuiet) has passed since its last slot came back: once at most in
	// the other's refresh, either a probe under way when it began or one in its last calls'
	// free slots. Either holds one slot.
	if sent > 1 {
		t.Errorf("the hanging organisation sent %d requests during the other's refresh, want none", sent)
	}
	if got := good.MaxInFlight(); got < 7 || got > 8 {
		t.Errorf("the good organisation had at most %d requests in flight, want 7 or 8 of the bound of 8", got)
	}
}

// Clients of two organisations share one bound of 4. Atlas pauses one organisation's bucket (a
// 429 with Retry-After: 300) while its refresh has 20 calls to make: they wait out the pause
// holding no slot, nothing more is sent to that bucket (but what was on the wire), and the other
// organisation's 20 calls are answered meanwhile on all 4 slots.
func TestPausedOrganisationLeavesTheOtherUnaffected(t *testing.T) {
	est, reqs := flexTargets(20)
	good := newFake(t, atlastest.Options{Estate: est, Latency: 20 * time.Millisecond})
	paused := newFake(t, atlastest.Options{Estate: est, Latency: 20 * time.Millisecond})
	paused.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Status: 429, RetryAfter: "300", Times: 1})
	slots := NewSlots(4)
	slots.Divide("good", "paused")
	client := func(srv *atlastest.Server, share string) *Client {
		c, _ := newTestClient(t, srv, func(c *Config) { c.Slots, c.Share = slots, share })
		c.sleep = sleepCtx // wait out the pause for real
		return c
	}
	g, p := NewFetcher(client(good, "good")), NewFetcher(client(paused, "paused"))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Fetch(ctx, reqs, func(Result) {}, nil, nil)
	}()
	for deadline := time.Now().Add(10 * time.Second); paused.Count("") == 0 || !slices.ContainsFunc(paused.Requests(), func(q atlastest.Request) bool { return q.Status == 429 }); {
		if time.Now().After(deadline) {
			t.Fatal("no 429")
		}
		time.Sleep(time.Millisecond)
	}
	g.Fetch(t.Context(), reqs, func(r Result) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Read.Target.Cluster, r.Err)
		}
	}, nil, nil)
	cancel()
	wg.Wait()
	if n := good.Count("listGroupFlexClusterBackupSnapshots"); n != 20 {
		t.Errorf("%d snapshot listings of the good organisation, want 20", n)
	}
	if got := good.MaxInFlight(); got != 4 {
		t.Errorf("the good organisation had at most %d requests in flight, want all 4 slots", got)
	}
	// Up to 3 other calls could be on the wire when the 429 came (a bound of 4); none after.
	for i, q := range paused.Requests() {
		if q.Status == 429 {
			if later := paused.ReceivedAfterAnswer(i); len(later) > 3 {
				t.Errorf("%d requests sent to the paused bucket after its 429, more than the 3 that could be on the wire", len(later))
			}
		}
	}
}
