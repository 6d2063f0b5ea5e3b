package atlas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// digestTally sorts what the fake received: unsigned requests (each answered with a challenge),
// signed requests refused and accepted.
type digestTally struct{ unsigned, refused, accepted int }

func tallyDigest(t *testing.T, srv *atlastest.Server) digestTally {
	t.Helper()
	var d digestTally
	for _, r := range srv.Requests() {
		switch {
		case r.Auth == "none" && r.Status == 401:
			d.unsigned++
		case r.Auth == "digest" && r.Status == 401:
			d.refused++
		case r.Auth == "digest" && r.Status == 200:
			d.accepted++
		default:
			t.Errorf("unexpected %+v", r)
		}
	}
	return d
}

// digestSequence lists the fake's requests as "auth status".
func digestSequence(srv *atlastest.Server) []string {
	var seq []string
	for _, r := range srv.Requests() {
		seq = append(seq, fmt.Sprintf("%s %d", r.Auth, r.Status))
	}
	return seq
}

var cloudTarget = Target{pid, "dedicated-01", KindCloud, false}

func TestDigestRoundTrips(t *testing.T) {
	cases := []struct {
		name string
		o    atlastest.Options
		want float64
	}{
		// A nonce serves every call after the first call's challenge.
		{"challenge reuse", atlastest.Options{}, 1.01},
		// The server marks the nonce stale after 10 uses: one more challenge per 10 calls.
		{"stale nonce every 10 uses", atlastest.Options{NonceUses: 10}, 1.1},
		// Every call needs a challenge: two second uses are refused, then none is tried.
		{"one use per nonce", atlastest.Options{NoncePolicy: atlastest.OneUse}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, tc.o)
			c, _ := newTestClient(t, srv, withDigest)
			if got := roundTrips(t, srv, c, 100); got != tc.want {
				t.Errorf("%.2f round trips per call, want %.2f", got, tc.want)
			}
			tallyDigest(t, srv)
		})
	}
}

// TestDigestConcurrentCalls makes 800 calls through 16 slots against each nonce policy a server
// may apply. The number of sessions (distinct nonces the client asked for) depends on how many
// calls happened to be in flight together, so it is bounded, not fixed; every other count
// follows from it exactly.
func TestDigestConcurrentCalls(t *testing.T) {
	const calls, slots = 800, 16
	// A server that accepts reuse: one challenge per session, at most one session per slot,
	// nothing refused.
	sessionsOnly := func(t *testing.T, d digestTally, _ int) {
		if d.refused != 0 || d.unsigned < 1 || d.unsigned > slots {
			t.Errorf("%+v: want nothing refused and 1 to %d sessions", d, slots)
		}
	}
	cases := []struct {
		name string
		o    atlastest.Options
		// check asserts the counts beyond "every call accepted once, total = calls + nonces".
		check func(t *testing.T, d digestTally, nonces int)
	}{
		{"(a) replay check only", atlastest.Options{NoncePolicy: atlastest.ReplayCheck}, sessionsOnly},
		// Each session's counts reach the server one after the other, so none is refused.
		{"(b) counts increase per nonce", atlastest.Options{NoncePolicy: atlastest.IncreasingCount}, sessionsOnly},
		// A server may also limit the uses of a nonce (the nginx-http-auth-digest module answers
		// stale=true from count 20 by default): each session's nonces but its last serve exactly
		// 20 calls.
		{"(b) with 20 counts per nonce", atlastest.Options{NoncePolicy: atlastest.IncreasingCount, NonceUses: 20},
			func(t *testing.T, d digestTally, nonces int) {
				if d.unsigned < 1 || d.unsigned > slots || nonces < calls/20 || nonces > calls/20+d.unsigned {
					t.Errorf("%d sessions and %d nonces, want 1 to %d sessions and %d nonces plus at most one per session", d.unsigned, nonces, slots, calls/20)
				}
			}},
		// Two second uses are refused (one at a time), then every call asks for a challenge.
		{"(c) one request per nonce", atlastest.Options{NoncePolicy: atlastest.OneUse},
			func(t *testing.T, d digestTally, nonces int) {
				if want := (digestTally{calls - oneUseAfter, oneUseAfter, calls}); d != want {
					t.Errorf("%+v, want %+v", d, want)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Latency = time.Millisecond
			srv := newFake(t, tc.o)
			c, _ := newTestClient(t, srv, withDigest, func(c *Config) { c.MaxConcurrency = slots })
			if err := callConcurrently(t.Context(), c, calls, 2*slots); err != nil {
				t.Fatal(err)
			}
			d, nonces := tallyDigest(t, srv), srv.NoncesIssued()
			// Every refusal and every unsigned request brings one new nonce.
			if d.accepted != calls || d.unsigned+d.refused != nonces || srv.Count("") != calls+nonces {
				t.Errorf("%d requests (%+v) and %d nonces for %d calls, want each call accepted once and one request per nonce more", srv.Count(""), d, nonces, calls)
			}
			tc.check(t, d, nonces)
			t.Logf("%.3f round trips per call (%d requests, %d nonces, %d refused)", float64(srv.Count(""))/calls, srv.Count(""), nonces, d.refused)
		})
	}
}

// callConcurrently makes n listing calls from the given number of goroutines and returns the
// first error.
func callConcurrently(ctx context.Context, c *Client, n, workers int) error {
	jobs := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if _, err := c.Snapshots(ctx, cloudTarget); err != nil {
					errs <- err
				}
			}
		}()
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	var failed []error
	for err := range errs {
		failed = append(failed, err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d calls failed, first: %w", len(failed), n, failed[0])
	}
	return nil
}

func TestDigestNonceExpiry(t *testing.T) {
	var mu sync.Mutex
	clock := testNow
	advance := func() {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(6 * time.Minute)
	}
	srv := newFake(t, atlastest.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}})
	c, _ := newTestClient(t, srv, withDigest)
	call := func() {
		t.Helper()
		if _, err := c.Snapshots(t.Context(), cloudTarget); err != nil {
			t.Fatal(err)
		}
	}
	call()
	// The nonce expires before its second use: refused stale, answered with the new challenge.
	// One refusal does not make the server one that takes each nonce once.
	advance()
	call()
	call()
	advance()
	call()
	call()
	want := []string{
		"none 401", "digest 200",
		"digest 401", "digest 200",
		"digest 200",
		"digest 401", "digest 200",
		"digest 200",
	}
	if got := digestSequence(srv); !reflect.DeepEqual(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}

func TestDigestRejectsWrongKey(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv, func(c *Config) { c.APIKey, c.ServiceAccount = &APIKey{testPublic, "wrong-private-key"}, nil })
	_, err := c.Projects(t.Context())
	var ae *Error
	if !errors.As(err, &ae) || !ae.Unauthorized() {
		t.Fatalf("got %v", err)
	}
	if want := "atlas: listGroups GET /api/atlas/v2/groups: HTTP 401 UNAUTHORIZED: You are not authorized for this resource."; err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
	if want := []string{"none 401", "digest 401"}; !reflect.DeepEqual(digestSequence(srv), want) {
		t.Errorf("requests %v, want %v (challenge + one attempt)", digestSequence(srv), want)
	}
}

func TestDigestKeyRevokedAndRestored(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c := clientWithTwoSessions(t, srv)
	srv.SetCredentials(testClientID, testSecret, testPublic, "rotated")
	// Each session's next count is refused; so is the new challenge, once: the key is refused.
	for range 2 {
		var ae *Error
		if _, err := c.Snapshots(t.Context(), cloudTarget); !errors.As(err, &ae) || !ae.Unauthorized() {
			t.Fatalf("revoked key: %v", err)
		}
	}
	srv.SetCredentials(testClientID, testSecret, testPublic, testPrivate)
	// The refused sessions were dropped: a new challenge. Two second uses were refused, but the
	// key with them, so nonces are still reused.
	for range 2 {
		if _, err := c.Snapshots(t.Context(), cloudTarget); err != nil {
			t.Fatalf("restored: %v", err)
		}
	}
	want := []string{
		"none 401", "none 401", "digest 200", "digest 200",
		"digest 401", "digest 401", "digest 401", "digest 401",
		"none 401", "digest 200", "digest 200",
	}
	if got := digestSequence(srv); !reflect.DeepEqual(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}

// barrier holds signed requests until n of them are waiting, then lets every request through.
type barrier struct {
	next    *http.Transport
	mu      sync.Mutex
	n       int
	release chan struct{}
}

func (b *barrier) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		b.mu.Lock()
		if b.n--; b.n == 0 {
			close(b.release)
		}
		b.mu.Unlock()
		select {
		case <-b.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return b.next.RoundTrip(r)
}

func (b *barrier) CloseIdleConnections() { b.next.CloseIdleConnections() }

// clientWithTwoSessions returns a digest client of srv that has two sessions, each used once:
// two calls each ask for a challenge, and neither is answered before both have signed.
func clientWithTwoSessions(t *testing.T, srv *atlastest.Server) *Client {
	t.Helper()
	c, _ := newTestClient(t, srv, withDigest, func(c *Config) {
		c.Transport = &barrier{next: http.DefaultTransport.(*http.Transport).Clone(), n: 2, release: make(chan struct{})}
	})
	if err := callConcurrently(t.Context(), c, 2, 2); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDigestWaitHonoursTheContext(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c := clientWithTwoSessions(t, srv)
	// The next call tries a nonce's second use, which hangs; another call waits for its answer
	// until its own deadline, and sends nothing.
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Hang: true, Times: 1})
	trialCtx, cancelTrial := context.WithCancel(t.Context())
	trialDone := make(chan error)
	go func() {
		_, err := c.Snapshots(trialCtx, cloudTarget)
		trialDone <- err
	}()
	for srv.Count("") < 5 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Snapshots(ctx, cloudTarget); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting call: %v, want its deadline", err)
	}
	cancelTrial()
	if err := <-trialDone; !errors.Is(err, context.Canceled) {
		t.Errorf("trial call: %v, want cancelled", err)
	}
	// The hung request's session was dropped; the other one serves the next call.
	if _, err := c.Snapshots(t.Context(), cloudTarget); err != nil {
		t.Fatal(err)
	}
	got := digestSequence(srv)
	if len(got) == 6 {
		got[4] = "hung" // its status is recorded whenever the fake notices the client left
	}
	if want := []string{"none 401", "none 401", "digest 200", "digest 200", "hung", "digest 200"}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}
