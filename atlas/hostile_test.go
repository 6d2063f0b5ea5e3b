package atlas

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// Answers from a hostile or broken Atlas: each test plays the attack against the fake and
// checks what the client did.

// thief is a loopback server that a redirect points at; it records what reached it.
type thief struct {
	*httptest.Server
	mu  sync.Mutex
	got []string // "METHOD path auth=... body=..." per request
}

func newThief(t *testing.T) *thief {
	th := &thief{}
	th.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		th.mu.Lock()
		th.got = append(th.got, fmt.Sprintf("%s %s auth=%q body=%q", r.Method, r.URL.Path, r.Header.Get("Authorization"), body))
		th.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"stolen","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(th.Close)
	return th
}

func (th *thief) requests() []string {
	th.mu.Lock()
	defer th.mu.Unlock()
	return append([]string(nil), th.got...)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	th := newThief(t)
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)

	// The token endpoint answers 307 to another port of the same host: a client that follows
	// it re-posts the form and the Basic credentials there.
	srv.SetFault("oauthToken", "", &atlastest.Fault{Redirect: th.URL + "/api/oauth/token"})
	_, err := c.Projects(t.Context())
	if want := "atlas: listGroups GET /api/atlas/v2/groups: service account token request failed: token endpoint answered HTTP 307"; err == nil || err.Error() != want {
		t.Errorf("token redirect: got %v\nwant %s", err, want)
	}
	if got := srv.Counts(); !reflect.DeepEqual(got, map[string]int{"oauthToken": 1}) {
		t.Errorf("fake received %v, want one token request", got)
	}

	// The same for an API call, with a valid token.
	srv.SetFault("oauthToken", "", nil)
	if _, err := c.Projects(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.SetFault("listGroups", "", &atlastest.Fault{Redirect: th.URL + "/api/atlas/v2/groups"})
	_, err = c.Projects(t.Context())
	if want := "atlas: listGroups GET /api/atlas/v2/groups: HTTP 307"; err == nil || err.Error() != want {
		t.Errorf("API redirect: got %v\nwant %s", err, want)
	}
	if got := th.requests(); len(got) != 0 {
		t.Errorf("the redirect target received %q", got)
	}
}

func TestHostileRetryAfterPausesNoLongerThanTheCall(t *testing.T) {
	for _, ra := range []string{"1000000000", "Thu, 01 Jan 2099 00:00:00 GMT"} {
		t.Run(ra, func(t *testing.T) {
			srv := newFake(t, atlastest.Options{})
			srv.SetFault("listGroupClusterBackupSnapshots", "dedicated-01", &atlastest.Fault{Status: 429, RetryAfter: ra})
			c, rs := newTestClient(t, srv)
			faulty := Target{pid, "dedicated-01", KindCloud, false}
			other := Target{pid, "dedicated-06", KindCloud, true} // same Atlas bucket
			const got429 = "atlas: listGroupClusterBackupSnapshots project=" + pid + " cluster=dedicated-01 GET /api/atlas/v2/groups/" + pid +
				"/clusters/dedicated-01/backup/snapshots: HTTP 429 RATE_LIMITED_TOKEN_BUCKET: injected fault"
			paused := "atlas: listGroupClusterBackupSnapshotShardedClusters project=" + pid + " cluster=dedicated-06 GET /api/atlas/v2/groups/" + pid +
				"/clusters/dedicated-06/backup/snapshots/shardedClusters: " + errPaused.Error()

			// Two "refreshes", each with its own deadline: the first receives the 429.
			for round := 1; round <= 2; round++ {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				if _, err := c.Snapshots(ctx, faulty); err == nil || err.Error() != got429 {
					t.Errorf("round %d: got %v\nwant %s", round, err, got429)
				}
				// The bucket is paused for the rest of this call's life: the other cluster is
				// not sent, and says so in words that do not change from one refresh to the next.
				if _, err := c.Snapshots(ctx, other); err == nil || err.Error() != paused {
					t.Errorf("round %d: got %v\nwant %s", round, err, paused)
				}
				cancel()
			}
			// A later call is not held back by a pause of a call that has ended.
			if _, err := c.Snapshots(t.Context(), other); err != nil {
				t.Errorf("after the paused calls ended: %v", err)
			}
			want := map[string]int{"oauthToken": 1, "listGroupClusterBackupSnapshots": 2, "listGroupClusterBackupSnapshotShardedClusters": 1}
			if got := srv.Counts(); !reflect.DeepEqual(got, want) {
				t.Errorf("requests %v, want %v", got, want)
			}
			if got := rs.got(); len(got) != 0 {
				t.Errorf("slept %v", got)
			}
		})
	}
}

func TestPauseEndsWithTheCallThatReceivedIt(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("listGroupClusterBackupSnapshots", "dedicated-01", &atlastest.Fault{Status: 429, RetryAfter: "60"})
	c, _ := newTestClient(t, srv, func(c *Config) { c.Retry.MaxAttempts = 1 })
	// Sleeps end only when their context does.
	sleeping := make(chan struct{})
	c.sleep = func(ctx context.Context, _ time.Duration) error {
		close(sleeping)
		<-ctx.Done()
		return ctx.Err()
	}
	first, endFirst := context.WithCancel(t.Context())
	if _, err := c.Snapshots(first, Target{pid, "dedicated-01", KindCloud, false}); err == nil {
		t.Fatal("want the 429")
	}
	done := make(chan error)
	go func() {
		_, err := c.Snapshots(t.Context(), Target{pid, "dedicated-06", KindCloud, true})
		done <- err
	}()
	<-sleeping // the second call waits out the pause...
	endFirst() // ...until the call that received it ends
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after the pause ended: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("still paused after the call that received the pause ended")
	}
	if n := srv.Count("listGroupClusterBackupSnapshotShardedClusters"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestRetryAfterWaitIsClamped(t *testing.T) {
	// Without a deadline, a retry still waits no longer than maxRetryAfter.
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Status: 429, RetryAfter: "1000000000"})
	c, rs := newTestClient(t, srv, func(c *Config) { c.Retry = RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Second} })
	if _, err := c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false}); err == nil {
		t.Fatal("want the 429")
	}
	if got, want := rs.got(), []time.Duration{maxRetryAfter, maxRetryAfter}; !reflect.DeepEqual(got, want) {
		t.Errorf("sleeps %v, want %v", got, want)
	}
	if n := srv.Count("listGroupClusterBackupSnapshots"); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"300":                           5 * time.Minute,
		"301":                           maxRetryAfter,
		"1000000000":                    maxRetryAfter,
		"99999999999999999999999":       maxRetryAfter, // past int64
		"-5":                            0,
		"soon":                          0,
		"Fri, 20 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Thu, 01 Jan 2099 00:00:00 GMT": maxRetryAfter,
		"Fri, 20 Nov 2026 11:00:00 GMT": 0, // in the past
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}

func TestEndlessListingStops(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	// Pages of 250 items with a next link on every one.
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Endless: true, PageItems: 250})
	c, _ := newTestClient(t, srv)
	c.maxItems = 1000
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := c.Snapshots(ctx, Target{pid, "dedicated-01", KindCloud, false})
	want := "atlas: listGroupClusterBackupSnapshots project=" + pid + " cluster=dedicated-01 GET /api/atlas/v2/groups/" + pid +
		"/clusters/dedicated-01/backup/snapshots: HTTP 200: more than 1000 items in one listing; stopped reading it"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// Four pages hold exactly the 1000 allowed; the fifth is one too many.
	if n := srv.Count("listGroupClusterBackupSnapshots"); n != 5 {
		t.Errorf("%d pages read, want 5", n)
	}
}

func TestOnePageOverTheListingCap(t *testing.T) {
	// One page with a single item more than MaxListItems: decoding stops at the cap.
	body := `{"results":[` + strings.Repeat(`{},`, MaxListItems) + `{}],"links":[]}`
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Body: body})
	c, _ := newTestClient(t, srv)
	_, err := c.Snapshots(t.Context(), Target{pid, "flex-02", KindFlex, false})
	if want := "HTTP 200: more than 100000 items in one listing; stopped reading it"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("got %v, want suffix %q", err, want)
	}
}

func TestDuplicateSnapshotIDs(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	clean, err := c.Snapshots(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Duplicates: true})
	got, err := c.Snapshots(t.Context(), target)
	if err != nil || !reflect.DeepEqual(got, clean) {
		t.Errorf("with every item twice: %v\n got %+v\nwant %+v", err, got, clean)
	}
	// Two different answers under one id: the first is kept.
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Body: `{"results":[
		{"id":"6a0000000000000000000001","status":"completed"},
		{"id":"6a0000000000000000000002","status":"completed"},
		{"id":"6a0000000000000000000001","status":"failed"}],"links":[]}`})
	got, err = c.Snapshots(t.Context(), target)
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID+" "+string(s.Status))
	}
	if want := []string{"6a0000000000000000000001 completed", "6a0000000000000000000002 completed"}; err != nil || !reflect.DeepEqual(ids, want) {
		t.Errorf("got %q %v, want %q", ids, err, want)
	}
}

func TestBodyBudgetUnderContention(t *testing.T) {
	// Six listings of 1.1 MiB (sent chunked, so of unknown length) through three connections,
	// with a budget that holds one such body besides three first chunks: they wait their turn
	// and all complete. Then a body over the cap, one cut off, and a 500: every reservation is
	// given back.
	est := atlastest.Generate(atlastest.Spec{Seed: 3, Projects: 1, ClustersPerProject: 6, SnapshotsPerCluster: 1, Kinds: []atlastest.ClusterKind{atlastest.Flex}, Now: testNow})
	srv := newFake(t, atlastest.Options{Estate: est})
	big := `{"results":[{"id":"6a0000000000000000000001","status":"COMPLETED","mongoDBVersion":"` + strings.Repeat("x", 11<<17) + `"}],"links":[]}`
	srv.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Body: big})
	c, _ := newTestClient(t, srv, func(c *Config) { c.MaxConcurrency, c.MaxBodyBytes = 3, 2<<20 })
	var wg sync.WaitGroup
	for _, cl := range est.Projects[0].Clusters {
		wg.Go(func() {
			if s, err := c.Snapshots(t.Context(), Target{pid, cl.Name, KindFlex, false}); err != nil || len(s) != 1 {
				t.Errorf("%s: %d snapshots, %v", cl.Name, len(s), err)
			}
		})
	}
	wg.Wait()
	target := Target{pid, "flex-01", KindFlex, false}
	srv.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Body: strings.Repeat(" ", 2<<20) + big})
	if _, err := c.Snapshots(t.Context(), target); err == nil || !strings.HasSuffix(err.Error(), "HTTP 200: response body exceeds 2097152 bytes") {
		t.Errorf("over the cap: %v", err)
	}
	srv.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Truncate: true, Times: 1})
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Errorf("cut off, then retried: %v", err)
	}
	srv.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Status: 500})
	if _, err := c.Snapshots(t.Context(), target); err == nil {
		t.Error("want the 500")
	}
	// The whole budget, MaxBodyBytes + 1 + 3 × 1 MiB, is free again, and not a byte more.
	size := int64(2<<20+1) + 3<<20
	if !c.bodies.sem.TryAcquire(size) || c.bodies.sem.TryAcquire(1) {
		t.Errorf("the budget of %d bytes is not whole again", size)
	}
}
