package atlas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// retryCounter counts retries by reason.
type retryCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *retryCounter) ObserveRequest(RequestEvent) {}

func (r *retryCounter) ObserveRetry(_, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *retryCounter) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

// flexTargets is an estate of one project of n Flex clusters, with a fetch request for each.
func flexTargets(n int) (*atlastest.Estate, []TargetRead) {
	est := atlastest.Generate(atlastest.Spec{Seed: 5, Projects: 1, ClustersPerProject: n, SnapshotsPerCluster: 1, Kinds: []atlastest.ClusterKind{atlastest.Flex}, Now: testNow})
	var reqs []TargetRead
	for _, cl := range est.Projects[0].Clusters {
		reqs = append(reqs, TargetRead{Target: Target{ProjectID: pid, Cluster: cl.Name, Kind: KindFlex}})
	}
	return est, reqs
}

// Atlas answers every request well within the timeout, but far more calls are queued than
// max_concurrency: the queue is not Atlas's time, so nothing times out, and the fake, which
// finishes what a client gives up on, never serves more than the bound.
func TestSlowAtlasNeverSeesMoreThanTheBound(t *testing.T) {
	t.Parallel() // waits on a slow fake Atlas of its own
	est, reqs := flexTargets(80)
	srv := newFake(t, atlastest.Options{Estate: est, Latency: 50 * time.Millisecond, FinishAbandoned: true})
	var retries retryCounter
	// 80 requests 2 at a time take 2s at least: twice the timeout, which is far above the
	// latency even on a loaded machine.
	c, _ := newTestClient(t, srv, func(c *Config) { c.MaxConcurrency, c.Timeout, c.Observer = 2, time.Second, &retries })
	failed := 0
	var mu sync.Mutex
	NewFetcher(c).Fetch(t.Context(), reqs, func(r Result) {
		if r.Err != nil {
			mu.Lock()
			failed++
			mu.Unlock()
		}
	}, nil, nil)
	if failed != 0 {
		t.Errorf("%d of %d targets failed", failed, len(reqs))
	}
	if got := srv.MaxInFlight(); got > 2 {
		t.Errorf("the fake served %d requests at once, above max_concurrency 2", got)
	}
	if n := retries.get("timeout"); n != 0 {
		t.Errorf("%d timeout retries, though every answer took 50ms against a 1s timeout", n)
	}
	if n := srv.Abandoned(); n != 0 {
		t.Errorf("%d requests abandoned while Atlas served them", n)
	}
}

// A request that really times out leaves Atlas working on it: its slot is given back only a
// timeout later, so the retry does not pile onto it.
func TestTimedOutRequestKeepsItsSlot(t *testing.T) {
	t.Parallel() // waits on a slow fake Atlas of its own
	est, reqs := flexTargets(2)
	// Atlas takes a little longer than the timeout, well short of twice it.
	srv := newFake(t, atlastest.Options{Estate: est, Latency: 450 * time.Millisecond, FinishAbandoned: true})
	c, _ := newTestClient(t, srv, func(c *Config) {
		c.MaxConcurrency, c.Timeout, c.Retry = 2, 400*time.Millisecond, RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	})
	want := "request timed out after 400ms"
	NewFetcher(c).Fetch(t.Context(), reqs, func(r Result) {
		if r.Err == nil || !strings.HasSuffix(r.Err.Error(), want) {
			t.Errorf("%s: got %v, want ...%s", r.Read.Target.Cluster, r.Err, want)
		}
	}, nil, nil)
	// The fake finishes the last requests a moment after the client gave up on them.
	for deadline := time.Now().Add(10 * time.Second); srv.Abandoned() < 4 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Abandoned(); n != 4 {
		t.Errorf("%d requests abandoned, want all 4", n)
	}
	if got := srv.MaxInFlight(); got > 2 {
		t.Errorf("the fake served %d requests at once, above max_concurrency 2", got)
	}
}

// The slots shrink and grow with Resize: a smaller bound holds new calls back until fewer than
// it are in flight; a waiter that gives up leaves no slot taken.
func TestSlotsResize(t *testing.T) {
	s := NewSlots(2)
	ctx := t.Context()
	blocked := func() bool {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		sl, err := s.acquire(wctx, "")
		if err == nil {
			sl.release(true)
			return false
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("acquire: %v", err)
		}
		return true
	}
	take := func() *slot {
		t.Helper()
		sl, err := s.acquire(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		return sl
	}
	held := []*slot{take(), take()}
	if !blocked() {
		t.Fatal("a third call went in with a bound of 2")
	}
	s.Resize(1)
	held[0].release(true) // one in flight: not below the new bound of 1
	if !blocked() {
		t.Fatal("a call went in while 1 was in flight against a bound of 1")
	}
	got := make(chan *slot)
	go func() { got <- take() }()
	s.Resize(3) // the waiter goes in at once
	held[0] = <-got
	if blocked() {
		t.Fatal("a third call waited with a bound of 3")
	}
	held[0].release(true)
	held[1].release(true)
	for range 3 {
		take()
	}
	if !blocked() {
		t.Fatal("a fourth call went in with a bound of 3")
	}
}

// Clients built from one Slots share its bound, across NewFrom, a change of settings and a
// change of credentials, while calls of the earlier clients are still in flight.
func TestClientsShareTheSlots(t *testing.T) {
	t.Parallel() // waits on a slow fake Atlas of its own
	est, reqs := flexTargets(45)
	for i := range reqs {
		// Read after the snapshots: through the client in use by then.
		reqs[i].RestoreJobs = true
	}
	srv := newFake(t, atlastest.Options{Estate: est, Latency: 40 * time.Millisecond, FinishAbandoned: true})
	slots := NewSlots(3)
	cfg := Config{BaseURL: srv.URL, ServiceAccount: &ServiceAccount{testClientID, testSecret}, Timeout: 5 * time.Second, MaxConcurrency: 3, Slots: slots}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f := NewFetcher(c)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.Fetch(t.Context(), reqs, func(r Result) {
			if r.Err != nil {
				t.Errorf("%s: %v", r.Read.Target.Cluster, r.Err)
			}
		}, func(jr JobsResult) {
			if jr.RestoreJobs == nil || jr.RestoreJobs.Err != nil {
				t.Errorf("%s: restore jobs %+v", jr.Read.Target.Cluster, jr.RestoreJobs)
			}
		}, nil)
	}()
	// Three reloads mid-refresh: a setting, the bound, then the credentials.
	reloads := []func(*Config){
		func(c *Config) { c.Timeout = 6 * time.Second },
		func(c *Config) { c.MaxConcurrency = 2 },
		func(c *Config) { c.ServiceAccount, c.APIKey = nil, &APIKey{testPublic, testPrivate} },
	}
	for i, change := range reloads {
		for deadline := time.Now().Add(30 * time.Second); srv.Count("") < (i+1)*2*len(reqs)/4 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		change(&cfg)
		slots.Resize(cfg.MaxConcurrency)
		next, _, err := NewFrom(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(next.Close)
		f.Use(next)
		c = next
	}
	wg.Wait()
	if got := srv.MaxInFlight(); got > 3 {
		t.Errorf("the fake served %d requests at once across reloads, above max_concurrency 3", got)
	}
}

// A 429 pauses its bucket: the calls queued behind the limiter and the slots when it arrives
// are not sent, and fail at once since their deadline falls inside the pause.
func TestPausedBucketSendsNoMore(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 2, Projects: 1, ClustersPerProject: 80, SnapshotsPerCluster: 1, Kinds: []atlastest.ClusterKind{atlastest.Dedicated}, Now: testNow})
	// Slow enough that a call on the wire when the 429 comes holds its slot until the client
	// has read the 429, even on a loaded machine.
	srv := newFake(t, atlastest.Options{Estate: est, Latency: 300 * time.Millisecond})
	// The first snapshot listing to arrive is refused for 300s.
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Status: 429, RetryAfter: "300", Times: 1})
	c, _ := newTestClient(t, srv, func(c *Config) { c.MaxConcurrency = 4 })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]int{}
	for _, cl := range est.Projects[0].Clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Snapshots(ctx, Target{pid, cl.Name, KindCloud, cl.Sharded})
			msg := "ok"
			switch {
			case errors.Is(err, errPaused):
				msg = "paused"
			case err != nil:
				msg = err.Error()
			}
			mu.Lock()
			errs[msg]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	reqs := srv.Requests()
	i429 := -1
	for i, q := range reqs {
		if q.Status == 429 {
			i429 = i
		}
	}
	if i429 < 0 {
		t.Fatalf("no 429 answered: %v", errs)
	}
	// Up to 3 other calls were on the wire when the 429 came (max_concurrency 4); none after.
	later := 0
	for _, q := range srv.ReceivedAfterAnswer(i429) {
		if strings.HasPrefix(q.Operation, "listGroupClusterBackupSnapshot") {
			later++
		}
	}
	if later > 3 {
		t.Errorf("%d requests sent into the paused bucket after the 429, more than the 3 that could be on the wire", later)
	}
	if errs["paused"] < 80-1-4-3 {
		t.Errorf("outcomes %v: want most calls not sent", errs)
	}
}

// A bucket is dropped only when it is as a new one would be: no call uses it, its limiter is
// full and it is not paused.
func TestIdleBucketsAreDropped(t *testing.T) {
	now := time.Now()
	l := newLimiters(1)
	inUse := l.get(spec.SetCloudBackups, "in-use", now)
	spent := l.get(spec.SetCloudBackups, "spent", now)
	spent.limiter.ReserveN(now, 10)
	l.done(spent)
	paused := l.get(spec.SetCloudBackups, "paused", now)
	paused.pause(t.Context(), now.Add(time.Minute))
	l.done(paused)
	l.done(l.get(spec.SetCloudBackups, "idle", now))
	l.mu.Lock()
	l.sweep(now)
	l.mu.Unlock()
	want := []string{"in-use", "paused", "spent"}
	if got := bucketProjects(l); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a sweep: %v, want %v", got, want)
	}
	// Two seconds later the spent tokens are back (500 a minute), and a minute later the pause
	// is over.
	l.mu.Lock()
	l.sweep(now.Add(2 * time.Minute))
	l.mu.Unlock()
	if got := bucketProjects(l); fmt.Sprint(got) != "[in-use]" {
		t.Errorf("later: %v, want [in-use]", got)
	}
	l.done(inUse)
}

func bucketProjects(l *limiters) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k := range l.m {
		out = append(out, k[1])
	}
	slices.Sort(out)
	return out
}

// Projects created and deleted on every refresh: the buckets of vanished ones go, so the map
// stays bounded however long the exporter runs.
func TestLimitersBoundedUnderChurn(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 4, Projects: 3, ClustersPerProject: 2, SnapshotsPerCluster: 1, Kinds: []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}, Now: testNow})
	srv := newFake(t, atlastest.Options{Estate: est})
	c, rs := newTestClient(t, srv)
	const refreshes = 100
	for r := range refreshes {
		var ids []string
		srv.Update(func(e *atlastest.Estate) {
			for i, p := range e.Projects {
				p.ID = fmt.Sprintf("6a%022x", r*len(e.Projects)+i)
				ids = append(ids, p.ID)
			}
		})
		for i, id := range ids {
			if _, err := c.Clusters(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			for _, cl := range est.Projects[i].Clusters {
				kind := KindCloud
				if cl.Kind == atlastest.Flex {
					kind = KindFlex
				}
				if _, err := c.Snapshots(t.Context(), Target{id, cl.Name, kind, cl.Sharded}); err != nil {
					t.Fatal(err)
				}
			}
		}
		rs.advance(time.Minute) // the next refresh
	}
	// Each refresh makes 15 buckets (clusters, flex, serverless, cloud backups and flex
	// snapshots of 3 projects): 1,500 without pruning.
	c.limits.mu.Lock()
	n := len(c.limits.m)
	c.limits.mu.Unlock()
	if n > minSweep {
		t.Errorf("%d rate-limit buckets after %d refreshes of 3 new projects each, want at most %d", n, refreshes, minSweep)
	}
}

// A token that cannot be sent (CRLF in it) is never cached: the call fails at once, naming no
// part of the token, and the next call asks for a new one.
func TestUnsendableTokenIsDropped(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("oauthToken", "", &atlastest.Fault{Times: 1, Body: `{"access_token":"tok3n\r\nX-Injected: 1","token_type":"bearer","expires_in":3600}`})
	c, rs := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	_, err := c.Snapshots(t.Context(), target)
	want := "atlas: listGroupClusterBackupSnapshots project=" + pid + " cluster=dedicated-01 GET /api/atlas/v2/groups/" + pid +
		"/clusters/dedicated-01/backup/snapshots: service account token request failed: token endpoint answered a token that cannot be sent in an HTTP header"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "tok3n") || strings.Contains(err.Error(), "Injected") {
		t.Errorf("the error quotes the token: %v", err)
	}
	if got := rs.got(); len(got) != 0 {
		t.Errorf("retried after %v", got)
	}
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatalf("the next call: %v", err)
	}
	if n := srv.Count("oauthToken"); n != 2 {
		t.Errorf("%d token requests, want 2 (the unsendable one, then a new one)", n)
	}
}

// Background calls hold at most half the slots, and a waiting call of the foreground goes
// ahead of them.
func TestSlotsBackgroundShare(t *testing.T) {
	s := NewSlots(4)
	fg, bg := t.Context(), asBackground(t.Context())
	var held []*slot
	try := func(ctx context.Context) bool {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		sl, err := s.acquire(wctx, "")
		if err == nil {
			held = append(held, sl)
		}
		return err == nil
	}
	for range 2 {
		if !try(bg) {
			t.Fatal("a background call waited with a free share")
		}
	}
	if try(bg) {
		t.Fatal("a third background call went in with a bound of 4")
	}
	for range 2 {
		if !try(fg) {
			t.Fatal("a foreground call waited with slots free")
		}
	}
	// Full: a background call queues first, then a foreground one; the slot a background call
	// gives back goes to the foreground.
	order := make(chan string, 2)
	go func() {
		if _, err := s.acquire(bg, ""); err == nil {
			order <- "background"
		}
	}()
	for s.waiting() < 1 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		if _, err := s.acquire(fg, ""); err == nil {
			order <- "foreground"
		}
	}()
	for s.waiting() < 2 {
		time.Sleep(time.Millisecond)
	}
	held[0].release(true) // a background call's
	if got := <-order; got != "foreground" {
		t.Fatalf("the freed slot went to the %s call", got)
	}
	held[2].release(true) // a foreground call's
	if got := <-order; got != "background" {
		t.Fatalf("the next freed slot went to the %s call", got)
	}
}

// Job listings that hang keep their slots for two timeouts each; a refresh of other targets
// started meanwhile (another project's) reads its snapshots ahead of the job reads still
// queued, on the slots the jobs may not take.
func TestHangingJobReadsLeaveTheSnapshotsTheirSlots(t *testing.T) {
	est, reqs := flexTargets(16)
	srv := newFake(t, atlastest.Options{Estate: est, Latency: 10 * time.Millisecond})
	srv.SetFault("listGroupFlexClusterBackupRestoreJobs", "", &atlastest.Fault{Hang: true})
	c, _ := newTestClient(t, srv, func(c *Config) {
		c.MaxConcurrency, c.Timeout, c.Retry = 2, 2*time.Second, RetryPolicy{MaxAttempts: 1}
	})
	f := NewFetcher(c)
	first, second := reqs[:8], reqs[8:]
	for i := range first {
		first[i].RestoreJobs = true
	}
	ctx, cancel := context.WithCancel(t.Context())
	var jobs sync.WaitGroup
	f.Fetch(ctx, first, func(Result) {}, func(JobsResult) {}, &jobs)
	// The first targets' snapshots are in, their 8 job reads queued or hanging.
	f.Fetch(t.Context(), second, func(r Result) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Read.Target.Cluster, r.Err)
		}
	}, nil, nil)
	cancel()
	jobs.Wait()
	// Every snapshot listing of the second targets was received before a second job read was.
	jobReads, last := 0, -1
	for i, q := range srv.Requests() {
		switch {
		case q.Operation == "listGroupFlexClusterBackupRestoreJobs":
			jobReads++
		case q.Operation == "listGroupFlexClusterBackupSnapshots" && slices.ContainsFunc(second, func(r TargetRead) bool { return strings.Contains(q.Path, "/"+r.Target.Cluster+"/") }):
			last = i
			if jobReads > 1 {
				t.Errorf("%s listed after %d job reads", q.Path, jobReads)
			}
		}
	}
	if last < 0 {
		t.Fatal("the second targets' snapshots were never listed")
	}
}
