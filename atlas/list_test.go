package atlas

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// retries records the retries a client observes, by operation and reason.
type retries struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (r *retries) ObserveRequest(RequestEvent) {}
func (r *retries) ObserveRetry(op, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[[2]string]int{}
	}
	r.n[[2]string{op, reason}]++
}

func (r *retries) of(op, reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[[2]string{op, reason}]
}

// The queries of a snapshot listing's first page, of its later pages (three items each, as the
// fake caps them), and of the second look at its first page.
const (
	firstPage  = "includeCount=false&itemsPerPage=500"
	secondLook = "includeCount=true&itemsPerPage=500"
)

func laterPage(n int) string { return "includeCount=true&itemsPerPage=3&pageNum=" + strconv.Itoa(n) }

// TestShiftingPages changes one cluster's eight snapshots (newest first, s0 … s7; three a page)
// between the page reads of its listing, through the fake's page hook, and checks what the
// client read, the requests it sent, and whether it read the listing again.
func TestShiftingPages(t *testing.T) {
	const op = "listGroupClusterBackupSnapshots"
	// once runs change after the first serving of page n only.
	once := func(n int, change func(c *atlastest.Cluster)) atlastest.PageHook {
		done := false
		return func(page int, e *atlastest.Estate) {
			if page == n && !done {
				done = true
				change(e.Projects[0].Cluster("dedicated-01"))
			}
		}
	}
	added := atlastest.Snap{ID: "6a00000000000000000000ad", Status: "completed", CreatedAt: testNow, Type: "scheduled", Frequency: "hourly"}
	deleteAt := func(i int) func(c *atlastest.Cluster) {
		return func(c *atlastest.Cluster) { c.Snapshots = slices.Delete(c.Snapshots, i, i+1) }
	}
	cases := []struct {
		name    string
		pageCap int
		hook    atlastest.PageHook
		fault   *atlastest.Fault
		want    []int // indexes of the original snapshots read; 8 is the one added
		queries []string
		reread  int
	}{
		{
			name: "one page: one request, as before", want: []int{0, 1, 2, 3, 4, 5, 6, 7},
			queries: []string{firstPage},
		},
		{
			name: "one page, changed right after it is read: nothing to see", hook: once(1, deleteAt(0)),
			want: []int{0, 1, 2, 3, 4, 5, 6, 7}, queries: []string{firstPage},
		},
		{
			name: "unchanged pages", pageCap: 3, want: []int{0, 1, 2, 3, 4, 5, 6, 7},
			queries: []string{firstPage, laterPage(2), laterPage(3), secondLook},
		},
		{
			// Before: s3 and s4 skipped, the deleted s0 and s1 shown.
			name: "two deleted at the head after page 1: seen in the second look, read again", pageCap: 3,
			hook: once(1, func(c *atlastest.Cluster) { c.Snapshots = c.Snapshots[2:] }),
			want: []int{2, 3, 4, 5, 6, 7}, reread: 1,
			queries: []string{firstPage, laterPage(2), secondLook, firstPage, laterPage(2), secondLook},
		},
		{
			// Before: s2 read twice, the new snapshot missing.
			name: "one added at the head after page 1: seen in the second look, read again", pageCap: 3,
			hook: once(1, func(c *atlastest.Cluster) { c.Snapshots = slices.Insert(c.Snapshots, 0, added) }),
			want: []int{8, 0, 1, 2, 3, 4, 5, 6, 7}, reread: 1,
			queries: []string{firstPage, laterPage(2), laterPage(3), secondLook, firstPage, laterPage(2), laterPage(3), secondLook},
		},
		{
			// Before: s6 skipped, the deleted s4 shown.
			name: "one deleted in page 2 after it is read: the count changes, read again", pageCap: 3,
			hook: once(2, deleteAt(4)), want: []int{0, 1, 2, 3, 5, 6, 7}, reread: 1,
			queries: []string{firstPage, laterPage(2), laterPage(3), firstPage, laterPage(2), laterPage(3), secondLook},
		},
		{
			name: "the oldest expires after page 2: harmless, but the count changes, read again", pageCap: 3,
			hook: once(2, deleteAt(7)), want: []int{0, 1, 2, 3, 4, 5, 6}, reread: 1,
			queries: []string{firstPage, laterPage(2), laterPage(3), firstPage, laterPage(2), laterPage(3), secondLook},
		},
		{
			name: "the oldest expires after page 1: harmless and not counted yet, read once", pageCap: 3,
			hook: once(1, deleteAt(7)), want: []int{0, 1, 2, 3, 4, 5, 6},
			queries: []string{firstPage, laterPage(2), laterPage(3), secondLook},
		},
		{
			// The blind spot: the count and page 1 stay as they were, and s6 is skipped.
			name: "one deleted in page 2 and one added at the tail after page 2: not seen", pageCap: 3,
			hook: once(2, func(c *atlastest.Cluster) {
				c.Snapshots = append(slices.Delete(c.Snapshots, 4, 5), added)
			}),
			want: []int{0, 1, 2, 3, 4, 5, 7, 8}, queries: []string{firstPage, laterPage(2), laterPage(3), secondLook},
		},
		{
			name: "every page carries its items twice: each counted once, no shift", pageCap: 3,
			fault: &atlastest.Fault{Duplicates: true}, want: []int{0, 1, 2, 3, 4, 5, 6, 7},
			queries: []string{firstPage, laterPage(2), laterPage(3), secondLook},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			est := atlastest.Generate(atlastest.Spec{Seed: 2, Projects: 1, ClustersPerProject: 1, SnapshotsPerCluster: 8, Kinds: []atlastest.ClusterKind{atlastest.Dedicated}, Now: testNow})
			ids := func(is []int) []string {
				var out []string
				for _, i := range is {
					if i == 8 {
						out = append(out, added.ID)
					} else {
						out = append(out, est.Projects[0].Clusters[0].Snapshots[i].ID)
					}
				}
				return out
			}
			want := ids(tc.want)
			srv := newFake(t, atlastest.Options{Estate: est, PageCap: tc.pageCap})
			srv.OnPage(op, "dedicated-01", tc.hook)
			srv.SetFault(op, "dedicated-01", tc.fault)
			obs := &retries{}
			c, _ := newTestClient(t, srv, func(c *Config) { c.Observer = obs })
			got, err := c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false})
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, s := range got {
				gotIDs = append(gotIDs, s.ID)
			}
			if !reflect.DeepEqual(gotIDs, want) {
				t.Errorf("read\n %v\nwant\n %v", gotIDs, want)
			}
			if q := queries(srv); !reflect.DeepEqual(q, tc.queries) {
				t.Errorf("queries\n %q\nwant\n %q", q, tc.queries)
			}
			if n := obs.of(op, "listing_shifted"); n != tc.reread {
				t.Errorf("%d retries for a shift, want %d", n, tc.reread)
			}
		})
	}
}

// TestListingThatShiftsTwiceFails: a listing that moves under every read fails with an error
// that says so and matches ErrListingShifted, after two reads.
func TestListingThatShiftsTwiceFails(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 2, Projects: 1, ClustersPerProject: 1, SnapshotsPerCluster: 8, Kinds: []atlastest.ClusterKind{atlastest.Dedicated}, Now: testNow})
	srv := newFake(t, atlastest.Options{Estate: est, PageCap: 3})
	// Whenever page 1 is served, the newest snapshot goes.
	srv.OnPage("listGroupClusterBackupSnapshots", "", func(page int, e *atlastest.Estate) {
		if c := e.Projects[0].Cluster("dedicated-01"); page == 1 {
			c.Snapshots = c.Snapshots[1:]
		}
	})
	c, _ := newTestClient(t, srv)
	_, err := NewFetcher(c).Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false})
	want := "atlas: listGroupClusterBackupSnapshots project=" + pid + " cluster=dedicated-01 GET /api/atlas/v2/groups/" + pid +
		"/clusters/dedicated-01/backup/snapshots: HTTP 200: listing changed while it was read, twice in a row"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrListingShifted) {
		t.Error("the error does not match ErrListingShifted")
	}
	if OutcomeOf(err) != Answered {
		t.Error("a listing that moved is not Atlas failing")
	}
	if q, want := queries(srv), []string{firstPage, laterPage(2), laterPage(3), secondLook, firstPage, laterPage(2), secondLook}; !reflect.DeepEqual(q, want) {
		t.Errorf("queries\n %q\nwant\n %q", q, want)
	}
}

// queries lists the queries of the API requests the fake received.
func queries(srv *atlastest.Server) []string {
	var out []string
	for _, r := range apiRequests(srv.Requests()) {
		out = append(out, r.Query)
	}
	return out
}
