package main

import (
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// The request-count and concurrency targets are exact, so they are asserted; times are only
// reported (docs/scale.md, issue notes).
func TestRefreshMakesTheMinimumRequests(t *testing.T) {
	cases := []struct {
		name string
		p    Params
	}{
		{"service account, 10 concurrent scrapes", Params{Projects: 20, Clusters: 5, Snapshots: 30, Latency: 5 * time.Millisecond, Concurrency: 4, Scrapers: 10, Schedules: true, Jobs: true}},
		{"paged listings", Params{Projects: 4, Clusters: 4, Snapshots: 30, Latency: time.Millisecond, Concurrency: 3, PageCap: 7}},
		{"paged listings with jobs", Params{Projects: 4, Clusters: 4, Snapshots: 30, Latency: time.Millisecond, Concurrency: 3, PageCap: 4, Schedules: true, Jobs: true}},
		{"digest with challenge reuse", Params{Projects: 10, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 4, Digest: true, Schedules: true, Jobs: true}},
		{"digest, counts increase per nonce", Params{Projects: 10, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 4, Digest: true, NoncePolicy: atlastest.IncreasingCount}},
		{"digest, one use per nonce", Params{Projects: 10, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 4, Digest: true, NoncePolicy: atlastest.OneUse}},
		{"two organisations, each with its own credential set", Params{Projects: 20, Clusters: 5, Snapshots: 30, Latency: 5 * time.Millisecond, Concurrency: 4, Scrapers: 10, Schedules: true, Jobs: true, Orgs: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := run(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			// With digest, every challenge (one per unsigned or refused request) is one request
			// more than the calls.
			want := r.Minimum
			if tc.p.Digest {
				want += r.Nonces - 1
				checkNonces(t, tc.p, true, r.Minimum-1, r.Nonces)
				checkNonces(t, tc.p, false, r.Floor+1, r.PhaseNonces[1])
				checkNonces(t, tc.p, false, r.Floor+1+r.JobPages, r.PhaseNonces[2])
			}
			switch {
			case tc.p.NoncePolicy == atlastest.OneUse:
				// The client learns from one refused second use that nonces are not to be
				// reused (the age it trusts halves with each refusal, and second uses are as
				// old as a round trip, so a second refusal is possible, a third is not).
				if r.Refused < 1 || r.Refused > 2 {
					t.Errorf("%d refused requests, want 1 or 2", r.Refused)
				}
			case tc.p.Digest && r.Refused != 0:
				t.Errorf("%d refused requests, want none", r.Refused)
			}
			if r.Total != want {
				t.Errorf("%d requests, want %d (minimum %d): %v", r.Total, want, r.Minimum, r.Requests)
			}
			// Each organisation's credentials made its own estate's requests.
			for org, n := range r.PerOrg {
				if want := r.MinimumPerOrg[org]; n != want {
					t.Errorf("organisation %s: %d requests, want %d", org, n, want)
				}
			}
			if r.MaxInFlight > tc.p.Concurrency {
				t.Errorf("the fake saw %d requests in flight, more than max_concurrency %d", r.MaxInFlight, tc.p.Concurrency)
			}
			if r.SecondRefresh != 0 {
				t.Errorf("a scrape of fresh data sent %d requests", r.SecondRefresh)
			}
			// The steady state: the snapshot pages, and one page of the all-projects cluster
			// listing (up to 500 projects a page) per credential set that finds nothing new;
			// with digest, the challenges.
			sets := max(1, tc.p.Orgs)
			want = r.Floor + sets + r.PhaseNonces[1]
			if r.Steady != want {
				t.Errorf("the refresh after min_refresh_interval sent %d requests, want %d (floor %d + 1): %v", r.Steady, want, r.Floor, r.SteadyRequests)
			}
			// Once jobs_interval has passed: the same, and a request per page of jobs; the
			// compliance policies wait for the next discovery.
			want = r.Floor + sets + r.JobPages + r.PhaseNonces[2]
			if r.JobsDue != want {
				t.Errorf("the refresh after jobs_interval sent %d requests, want %d (floor %d + 1 + %d pages of jobs): %v", r.JobsDue, want, r.Floor, r.JobPages, r.JobsDueRequests)
			}
		})
	}
}

// checkNonces asserts the challenges of a refresh of calls API calls: one per call with one use
// per nonce. Otherwise a nonce signs up to renewUses calls and a slot's nonce carries over to
// the next refresh: once the client has proven how old and how far counted a nonce the server
// accepts, a refresh takes at most a challenge per renewUses calls and one per slot; the first
// refresh, while the client proves it, renews a few per slot early (measured: up to 4 a slot,
// with 4 slots), at most 6 a slot.
func checkNonces(t *testing.T, p Params, first bool, calls, nonces int) {
	t.Helper()
	const renewUses = 16 // atlas's
	low, high := 0, (calls+renewUses-1)/renewUses+p.Concurrency
	switch {
	case p.NoncePolicy == atlastest.OneUse:
		low, high = calls, calls
	case first:
		low, high = (calls+renewUses-1)/renewUses, (calls+renewUses-1)/renewUses+6*p.Concurrency
	}
	if nonces < low || nonces > high {
		t.Errorf("%d challenges for %d calls (first refresh: %v), want %d to %d", nonces, calls, first, low, high)
	}
}

func TestDigestStaleNonceFallback(t *testing.T) {
	// Atlas marks the nonce stale after every 10th use. The one nonce in use is always older
	// than any nonce the server accepted, so the client cannot tell its count from its age
	// being refused: it takes it for the age (see atlas/digest.go) and renews nonces at half
	// that age, some 5 calls. Calls that speed up may reach the 11th use before that age
	// again: each refusal lowers the age or count trusted, and it settles within a few.
	r, err := run(Params{Projects: 10, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 1, Digest: true, NonceUses: 10})
	if err != nil {
		t.Fatal(err)
	}
	api := r.Minimum - 1 // the minimum counts one challenge
	if r.Refused < 1 || r.Refused > 3 || r.Total != api+r.Nonces || r.Nonces < api/10 || r.Nonces > api/3 {
		t.Errorf("%d requests, %d challenges and %d refused for %d API calls, want 1 to 3 refused and %d to %d challenges",
			r.Total, r.Nonces, r.Refused, api, api/10, api/3)
	}
}

// TestDigestLockoutPolicy: full refreshes through the collector against a server that checks
// digest as the nginx-http-auth-digest module does, each after its nonces expired: the second
// refresh costs one failed login (the guess that learns how long nonces live), no lockout.
// Before, the idle sessions of max_concurrency 8 all failed at once and locked the exporter out.
func TestDigestLockoutPolicy(t *testing.T) {
	r, err := run(Params{Projects: 10, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 8, Digest: true,
		NoncePolicy: atlastest.Lockout, NonceExpires: 300 * time.Millisecond, Idle: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lockouts != 0 || r.FailedLogins[0]+r.FailedLogins[1]+r.FailedLogins[2] > 2 {
		t.Errorf("failed logins per refresh %v, %d lockouts; want at most 2 in all and none", r.FailedLogins, r.Lockouts)
	}
}

func TestPerClusterSeriesOnlyCutOutputTenfold(t *testing.T) {
	p := Params{Projects: 4, Clusters: 5, Snapshots: 30, Concurrency: 4, SnapshotMetrics: true}
	with, err := run(p)
	if err != nil {
		t.Fatal(err)
	}
	p.SnapshotMetrics = false
	without, err := run(p)
	if err != nil {
		t.Fatal(err)
	}
	if with.Render.Bytes < 10*without.Render.Bytes {
		t.Errorf("snapshot_metrics: false renders %d bytes against %d: less than a tenfold cut", without.Render.Bytes, with.Render.Bytes)
	}
}

// TestSoakWithFaults: scrapes never fail while refreshes with failing, rate-limited and hung
// clusters go on. The scrape timeout (2 s, less the handler's 0.5 s offset) is shorter than any
// refresh's snapshot phase: the hung cluster's listing alone takes two attempts of the soak's
// 1 s request timeout. So on any machine, loaded or not, every scrape that starts a refresh
// reaches its deadline and is served the last rendered body (with a 5 s timeout that happened
// only on a loaded machine, where a refresh outlasted 4.5 s).
func TestSoakWithFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak: scrapes under faults for seconds")
	}
	p := Params{Projects: 30, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 8, SnapshotMetrics: true, Scrapers: 10}
	r, err := soak(p, 3*time.Second, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d scrapes, slowest %s, %d refreshes", r.Scrapes, r.MaxLatency.Round(time.Millisecond), r.Refreshes)
	if r.Failed != 0 || r.Scrapes == 0 {
		t.Errorf("%d of %d scrapes failed", r.Failed, r.Scrapes)
	}
	if r.Refreshes < 2 {
		t.Errorf("only %d refreshes during the soak", r.Refreshes)
	}
	// Scrapers, refreshes and connections have ended: no goroutine is left behind (goleak
	// checks the same at the end of the package).
	if r.GoroutinesAfter > r.GoroutinesBefore {
		t.Errorf("goroutines grew from %d to %d", r.GoroutinesBefore, r.GoroutinesAfter)
	}
}

// TestHangingOrganisationTakesNoSlotOfTheOthersRefresh: two organisations share max_concurrency
// 4; the second's Atlas hangs. The first's refreshes make exactly the requests they make with
// the second not configured, and once the second's first call has timed out (every refresh
// after the first), they have all 4 slots: Atlas serves 4 of their requests at once, as alone.
// Counts only: the harness reports the times (docs/scale.md). The hanging organisation's
// requests time out at 200 ms; the first's end only with its refresh, which the refresh
// timeout (also how long each refresh of the hanging one lasts) cuts at 3 s: over 7 times the
// slowest of its refreshes measured under -race with GOMAXPROCS=1 at load 4 (0.4 s).
func TestHangingOrganisationTakesNoSlotOfTheOthersRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the refreshes of two organisations twice, a hanging one's for 3 seconds each")
	}
	p := Params{Projects: 6, Clusters: 4, Snapshots: 4, Latency: 5 * time.Millisecond, Concurrency: 4, Timeout: 200 * time.Millisecond, RefreshTimeout: 3 * time.Second}
	r, err := orgsCompare(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the good organisation's refreshes took %v alone, %v beside", r.Alone, r.Beside)
	for i := range r.Alone {
		if r.BesideRequests[i] != r.Requests[i] || r.MaxInFlight[i] != p.Concurrency {
			t.Errorf("refresh %d: %d requests beside the hanging organisation, %d alone (at most %d in flight)", i+1, r.BesideRequests[i], r.Requests[i], r.MaxInFlight[i])
		}
		// In the first, the hanging organisation's first call may hold a slot until it times out.
		low := p.Concurrency
		if i == 0 {
			low--
		}
		if got := r.BesideMaxInFlight[i]; got < low || got > p.Concurrency {
			t.Errorf("refresh %d: at most %d requests in flight beside the hanging organisation, want %d to %d", i+1, got, low, p.Concurrency)
		}
	}
	if r.HangSent[0] == 0 {
		t.Error("the hanging organisation sent nothing")
	}
}
