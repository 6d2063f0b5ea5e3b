package main

import (
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// The request-count and concurrency targets are exact, so they are asserted; times are only
// reported (README, issue notes).
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := run(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			want := r.Minimum
			switch {
			case tc.p.NoncePolicy == atlastest.OneUse:
				// A challenge per call; the client tries two second uses of a nonce, then stops.
				want = 2 * (r.Minimum - 1)
				if r.Nonces != r.Minimum-1 || r.Refused != 2 {
					t.Errorf("%d nonces and %d refused requests, want %d and 2", r.Nonces, r.Refused, r.Minimum-1)
				}
			case tc.p.Digest:
				// A challenge per session, and a session per call in flight at once (at least
				// the project listing, which goes alone; at most max_concurrency).
				want += r.Nonces - 1
				if r.Nonces < 1 || r.Nonces > tc.p.Concurrency || r.Refused != 0 {
					t.Errorf("%d nonces and %d refused requests, want 1 to %d and none", r.Nonces, r.Refused, tc.p.Concurrency)
				}
			}
			if r.Total != want {
				t.Errorf("%d requests, want %d (minimum %d): %v", r.Total, want, r.Minimum, r.Requests)
			}
			if r.MaxInFlight > tc.p.Concurrency {
				t.Errorf("the fake saw %d requests in flight, more than max_concurrency %d", r.MaxInFlight, tc.p.Concurrency)
			}
			if r.SecondRefresh != 0 {
				t.Errorf("a scrape of fresh data sent %d requests", r.SecondRefresh)
			}
			// The steady state: the snapshot pages, and one page of the all-projects cluster
			// listing (up to 500 projects a page) that finds nothing new; with one use per
			// nonce, a challenge for each.
			want = r.Floor + 1
			if tc.p.NoncePolicy == atlastest.OneUse {
				want *= 2
			}
			if r.Steady != want {
				t.Errorf("the refresh after min_refresh_interval sent %d requests, want %d (floor %d + 1): %v", r.Steady, want, r.Floor, r.SteadyRequests)
			}
			// Once jobs_interval has passed: the same, and a request per page of jobs; the
			// compliance policies wait for the next discovery.
			want = r.Floor + 1 + r.JobPages
			if tc.p.NoncePolicy == atlastest.OneUse {
				want *= 2
			}
			if r.JobsDue != want {
				t.Errorf("the refresh after jobs_interval sent %d requests, want %d (floor %d + 1 + %d pages of jobs): %v", r.JobsDue, want, r.Floor, r.JobPages, r.JobsDueRequests)
			}
		})
	}
}

func TestDigestStaleNonceFallback(t *testing.T) {
	// Atlas marks the nonce stale after every 10th use: one extra challenge per 10 calls.
	r, err := run(Params{Projects: 10, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 1, Digest: true, NonceUses: 10})
	if err != nil {
		t.Fatal(err)
	}
	// One challenge per nonce, and a nonce serves 10 calls.
	api := r.Minimum - 1 // the minimum counts one challenge
	if want := api + (api+9)/10; r.Total != want {
		t.Errorf("%d requests for %d API calls, want %d", r.Total, api, want)
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
	if with.RenderBytes < 10*without.RenderBytes {
		t.Errorf("snapshot_metrics: false renders %d bytes against %d: less than a tenfold cut", without.RenderBytes, with.RenderBytes)
	}
}

func TestSoakWithFaults(t *testing.T) {
	p := Params{Projects: 30, Clusters: 4, Snapshots: 10, Latency: time.Millisecond, Concurrency: 8, SnapshotMetrics: true, Scrapers: 10}
	r, err := soak(p, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
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
