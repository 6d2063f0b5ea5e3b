package atlas

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// roundTrips returns HTTP requests per API call for n sequential listing calls.
func roundTrips(t *testing.T, srv *atlastest.Server, c *Client, n int) float64 {
	t.Helper()
	srv.Reset()
	for range n {
		if _, err := c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false}); err != nil {
			t.Fatal(err)
		}
	}
	return float64(srv.Count("")) / float64(n)
}

func TestOAuthTokenReused(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	if _, err := c.Projects(t.Context()); err != nil { // fetches the token
		t.Fatal(err)
	}
	if got := roundTrips(t, srv, c, 50); got != 1 {
		t.Errorf("%.2f requests per call, want 1 (token cached)", got)
	}
	if n := srv.Count("oauthToken"); n != 0 {
		t.Errorf("%d token requests after the first call, want 0", n)
	}
}

func TestOAuthTokenRenewal(t *testing.T) {
	// A token is renewed 5 minutes before it expires, or at half its life if that is sooner:
	// one that lives 5 minutes or less is still used more than once.
	cases := []struct {
		ttl, step time.Duration // token lifetime; time between calls
		calls     int
		tokens    int
	}{
		{time.Hour, time.Minute, 60, 2},              // renewed at 55 min
		{10 * time.Minute, time.Minute, 12, 3},       // at 5 and 10 min
		{5 * time.Minute, time.Minute, 10, 4},        // every 2.5 min: at 0, 3, 6, 9
		{4 * time.Minute, time.Minute, 10, 5},        // every 2 min
		{time.Second, 100 * time.Millisecond, 10, 2}, // every 500 ms
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("ttl %s", tc.ttl), func(t *testing.T) {
			clock := &recordingSleeper{clock: testNow}
			srv := newFake(t, atlastest.Options{TokenTTL: tc.ttl, Now: clock.now})
			c, _ := newTestClient(t, srv)
			c.auth.(*oauthAuth).now = clock.now
			for i := range tc.calls {
				if _, err := c.Projects(t.Context()); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				clock.advance(tc.step)
			}
			want := map[string]int{"oauthToken": tc.tokens, "listGroups": tc.calls}
			if got := srv.Counts(); !reflect.DeepEqual(got, want) {
				t.Errorf("requests %v, want %v", got, want)
			}
		})
	}
}

func (r *recordingSleeper) advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock = r.clock.Add(d)
}

func TestOAuthCredentialsRevokedAndRestored(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	srv.SetCredentials(testClientID, "rotated", "", "")
	srv.Reset()
	// The token is refused, so the client asks for a new one at once, and that is refused too.
	_, err := c.Snapshots(t.Context(), target)
	if !errors.Is(err, ErrToken) || !strings.HasSuffix(err.Error(), "service account token request failed: token endpoint answered HTTP 401 invalid_client") {
		t.Fatalf("revoked secret: %v", err)
	}
	var seq []string
	for _, r := range srv.Requests() {
		seq = append(seq, fmt.Sprintf("%s %d", r.Operation, r.Status))
	}
	if want := []string{"listGroupClusterBackupSnapshots 401", "oauthToken 401"}; !reflect.DeepEqual(seq, want) {
		t.Errorf("requests %v, want %v", seq, want)
	}
	srv.SetCredentials(testClientID, testSecret, "", "")
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatalf("restored: %v", err)
	}
	for _, s := range []string{testSecret, "rotated"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

func TestOAuthTokenEndpointDownWithValidToken(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	srv.SetFault("oauthToken", "", &atlastest.Fault{Status: 503})
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatalf("cached token should still serve: %v", err)
	}
}

func TestOAuthClockSkew(t *testing.T) {
	// Atlas's clock runs ahead of ours: a token we hold as valid has expired there.
	var mu sync.Mutex
	skew := time.Duration(0)
	srv := newFake(t, atlastest.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(skew)
	}})
	c, _ := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	skew = 2 * time.Hour
	mu.Unlock()
	srv.Reset()
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatalf("a token expired by Atlas's clock should be replaced at once: %v", err)
	}
	var seq []string
	for _, r := range srv.Requests() {
		seq = append(seq, fmt.Sprintf("%s %d", r.Operation, r.Status))
	}
	if want := []string{"listGroupClusterBackupSnapshots 401", "oauthToken 200", "listGroupClusterBackupSnapshots 200"}; !reflect.DeepEqual(seq, want) {
		t.Errorf("requests %v, want %v", seq, want)
	}
}

// A token request Atlas does not answer is the call timing out, every time: not a token error
// by the chance of which of two timers fired first. The call keeps its slot one more timeout,
// as any unanswered request does.
func TestHangingTokenRequestTimesTheCallOut(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("oauthToken", "", &atlastest.Fault{Hang: true})
	const want = "atlas: listGroups GET /api/atlas/v2/groups: request timed out after 100ms"
	for range 5 {
		c, _ := newTestClient(t, srv, func(c *Config) { c.Timeout, c.Retry = 100*time.Millisecond, RetryPolicy{MaxAttempts: 1} })
		if _, err := c.Projects(t.Context()); err == nil || err.Error() != want {
			t.Fatalf("got %v, want %s", err, want)
		}
		c.slots.mu.Lock()
		used := c.slots.used
		c.slots.mu.Unlock()
		if used != 1 {
			t.Errorf("%d slots held after the timeout, want the call's, for one more timeout", used)
		}
	}
}

func TestOAuthTokenRequestHonoursTheContext(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("oauthToken", "", &atlastest.Fault{Hang: true})
	c, _ := newTestClient(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Projects(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's deadline", err)
	}
	if srv.Count("listGroups") != 0 {
		t.Error("the API call went out without a token")
	}
}
