package atlas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
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

// testClock is a clock tests move by hand; the fake and the digest transport can share it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withDigestClock makes now the clock of c's digest transport.
func withDigestClock(c *Client, now func() time.Time) { c.auth.(*digestAuth).now = now }

// frozen is a clock that stands still: ages never matter, only counts.
func frozen() time.Time { return testNow }

func TestDigestRoundTrips(t *testing.T) {
	cases := []struct {
		name    string
		o       atlastest.Options
		want    float64
		refused int
	}{
		// A nonce signs 16 calls, then a challenge renews it.
		{"challenge reuse", atlastest.Options{}, 1.07, 0},
		// The server marks the nonce stale after 10 uses: refused once, then renewed every 10.
		{"stale nonce every 10 uses", atlastest.Options{NonceUses: 10}, 1.1, 1},
		// Every call needs a challenge: one second use is refused, then none is tried.
		{"one use per nonce", atlastest.Options{NoncePolicy: atlastest.OneUse}, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, tc.o)
			c, _ := newTestClient(t, srv, withDigest)
			withDigestClock(c, frozen)
			if got := roundTrips(t, srv, c, 100); got != tc.want {
				t.Errorf("%.2f round trips per call, want %.2f", got, tc.want)
			}
			if d := tallyDigest(t, srv); d.refused != tc.refused {
				t.Errorf("%d signed requests refused, want %d", d.refused, tc.refused)
			}
		})
	}
}

// TestDigestConcurrentCalls makes 800 calls through 16 slots against each nonce policy a server
// may apply. The number of sessions (distinct nonces the client asked for) depends on how many
// calls happened to be in flight together, so it is bounded, not fixed; every other count
// follows from it exactly. The client's clock stands still: these servers limit counts.
func TestDigestConcurrentCalls(t *testing.T) {
	const calls, slots = 800, 16
	// Nothing refused; a nonce signs at most renewUses calls; beyond that, a nonce per slot to
	// begin with, and those renewed early while the counts are proven: a call whose nonce is
	// past what the server has accepted renews it while another call makes the guess. The
	// counts are proven one guess at a time (renewUses-1 of them), and during each the other
	// slots-1 calls may renew; how many do depends on the scheduler (a loaded machine renews
	// more), so the bound is that worst case. Every call renewing would be 800 nonces.
	renewedOnly := func(t *testing.T, d digestTally, _ int) {
		if low, high := calls/renewUses, calls/renewUses+slots+(renewUses-1)*(slots-1); d.refused != 0 || d.unsigned < low || d.unsigned > high {
			t.Errorf("%+v: want nothing refused and %d to %d nonces", d, low, high)
		}
	}
	cases := []struct {
		name string
		o    atlastest.Options
		// check asserts the counts beyond "every call accepted once, total = calls + nonces".
		check func(t *testing.T, d digestTally, nonces int)
	}{
		{"(a) replay check only", atlastest.Options{NoncePolicy: atlastest.ReplayCheck}, renewedOnly},
		// Each session's counts reach the server one after the other, so none is refused.
		{"(b) counts increase per nonce", atlastest.Options{NoncePolicy: atlastest.IncreasingCount}, renewedOnly},
		// A server may also limit the uses of a nonce (the nginx-http-auth-digest module answers
		// stale=true from count 20 by default): a nonce is renewed before.
		{"(b) with 20 counts per nonce", atlastest.Options{NoncePolicy: atlastest.IncreasingCount, NonceUses: 20}, renewedOnly},
		// One second use is refused, then every call asks for a challenge.
		{"(c) one request per nonce", atlastest.Options{NoncePolicy: atlastest.OneUse},
			func(t *testing.T, d digestTally, nonces int) {
				if want := (digestTally{calls - 1, 1, calls}); d != want {
					t.Errorf("%+v, want %+v", d, want)
				}
			}},
		// The module itself, with its defaults: no failed login at all.
		{"(d) nginx-http-auth-digest lockout", atlastest.Options{NoncePolicy: atlastest.Lockout}, renewedOnly},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Latency = time.Millisecond
			srv := newFake(t, tc.o)
			c, _ := newTestClient(t, srv, withDigest, func(c *Config) { c.MaxConcurrency = slots })
			withDigestClock(c, frozen)
			if err := callConcurrently(t.Context(), c, calls, 2*slots); err != nil {
				t.Fatal(err)
			}
			d, nonces := tallyDigest(t, srv), srv.NoncesIssued()
			// Every refusal and every unsigned request brings one new nonce.
			if d.accepted != calls || d.unsigned+d.refused != nonces || srv.Count("") != calls+nonces {
				t.Errorf("%d requests (%+v) and %d nonces for %d calls, want each call accepted once and one request per nonce more", srv.Count(""), d, nonces, calls)
			}
			if srv.FailedLogins() != 0 || srv.Lockouts() != 0 {
				t.Errorf("%d failed logins, %d lockouts", srv.FailedLogins(), srv.Lockouts())
			}
			tc.check(t, d, nonces)
			t.Logf("%.3f round trips per call (%d requests, %d nonces, %d refused)", float64(srv.Count(""))/calls, srv.Count(""), nonces, d.refused)
		})
	}
}

// TestDigestLockoutBursts calls through a real client in bursts separated by idle spells longer
// than a nonce lives after its first use, against a server that locks an address out after 5
// failed logins in a row, at each max_concurrency. Failed logins come only from guesses, one
// at a time, each followed by its call's success: never two in a row, no lockout. Measured:
// one, in the second burst, at every max_concurrency.
//
// The fake and the digest transport share a clock that runs in real time during a burst and
// jumps over each idle spell. A nonce's life is what no delay on a loaded machine comes near
// (requests were seen to take 0.8 s from being signed to being checked under -race at load 9):
// with a life of 400 ms, such a delay made reuses the client rightly judged young arrive stale,
// several in a row (a lockout once). The idle spell (twice the life) stays below the age at
// which the client renews a nonce unasked (renewAge), so every burst after the first still
// finds its sessions stale but not due: the guess is still made. Bound: the guess after an
// idle spell, and one more per nonce life a burst outlasts (none measured): 2 per burst.
func TestDigestLockoutBursts(t *testing.T) {
	const (
		bursts  = 4
		expires = 2 * time.Second
		idle    = 2 * expires
	)
	if idle >= renewAge {
		t.Fatalf("idle spell %v: sessions would be renewed, never guessed with", idle)
	}
	for _, slots := range []int{1, 2, 4, 8, 16, 32} {
		t.Run(fmt.Sprintf("max_concurrency %d", slots), func(t *testing.T) {
			t.Parallel()
			clock := &idleClock{}
			srv := newFake(t, atlastest.Options{Now: clock.now, NoncePolicy: atlastest.Lockout, Lockout: atlastest.LockoutLimits{Expires: expires, EvasionTime: time.Hour}})
			c, _ := newTestClient(t, srv, withDigest, func(c *Config) { c.MaxConcurrency = slots })
			withDigestClock(c, clock.now)
			calls := 4 * slots
			var failed []int
			var errs []error
			var took []time.Duration
			for b := range bursts {
				if b > 0 {
					clock.skip(idle)
				}
				before, start := srv.FailedLogins(), time.Now()
				errs = append(errs, callConcurrently(t.Context(), c, calls, 2*slots))
				failed = append(failed, srv.FailedLogins()-before)
				took = append(took, time.Since(start).Round(time.Millisecond))
			}
			t.Logf("failed logins per burst %v (at most %d in a row), lockouts %d, %.3f requests per call, bursts took %v",
				failed, srv.FailedInARow(), srv.Lockouts(), float64(srv.Count(""))/float64(bursts*calls), took)
			if srv.Lockouts() != 0 || srv.FailedInARow() > 1 {
				t.Errorf("locked out %d times, %d failed logins in a row", srv.Lockouts(), srv.FailedInARow())
			}
			for b, n := range failed {
				if n > 2 {
					t.Errorf("burst %d: %d failed logins, want at most 2", b+1, n)
				}
				if errs[b] != nil {
					t.Errorf("burst %d: %v", b+1, errs[b])
				}
			}
		})
	}
}

// idleClock is the real clock, moved on by hand over idle spells.
type idleClock struct {
	mu      sync.Mutex
	skipped time.Duration
}

func (c *idleClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skipped)
}

func (c *idleClock) skip(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skipped += d
}

// TestDigestStaleNonceRenewedOnce: a nonce refused stale=true costs one failed login, and the
// client learns from it to renew nonces before that age, with no failed login.
func TestDigestStaleNonceRenewedOnce(t *testing.T) {
	clock := &testClock{t: testNow}
	srv := newFake(t, atlastest.Options{Now: clock.now, NoncePolicy: atlastest.Lockout, Lockout: atlastest.LockoutLimits{Expires: 2 * time.Second}})
	c, _ := newTestClient(t, srv, withDigest)
	withDigestClock(c, clock.now)
	var steps []string
	call := func(advance time.Duration) {
		t.Helper()
		clock.advance(advance)
		srv.Reset()
		if _, err := c.Snapshots(t.Context(), cloudTarget); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, fmt.Sprintf("%v: %d failed", digestSequence(srv), srv.FailedLogins()))
	}
	call(0)
	// A reuse 1 s old: a guess (no reuse accepted yet), made alone, accepted.
	call(time.Second)
	// 3 s old, 2 s after its first use: refused stale=true; the key was right, so the
	// answer's challenge signs the call. Nonces are now renewed at half that age.
	call(2 * time.Second)
	call(0)
	call(2 * time.Second)
	want := []string{
		"[none 401 digest 200]: 0 failed",
		"[digest 200]: 0 failed",
		"[digest 401 digest 200]: 1 failed",
		"[digest 200]: 0 failed",
		"[none 401 digest 200]: 0 failed",
	}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
}

// TestDigestOneGuessAtATime: eight idle sessions whose nonces expired meanwhile, and eight calls
// at once. One call guesses (one failed login); the others renew their nonces rather than guess
// too, or, once its answer is in, reuse a young one.
func TestDigestOneGuessAtATime(t *testing.T) {
	const slots = 8
	clock := &testClock{t: testNow}
	srv := newFake(t, atlastest.Options{Now: clock.now, NoncePolicy: atlastest.Lockout, Lockout: atlastest.LockoutLimits{Expires: 2 * time.Second}})
	c := clientWithSessions(t, srv, slots, func(c *Client) { withDigestClock(c, clock.now) })
	clock.advance(3 * time.Second)
	srv.Reset()
	if err := callConcurrently(t.Context(), c, slots, slots); err != nil {
		t.Fatal(err)
	}
	if d := tallyDigest(t, srv); d.refused != 1 || d.accepted != slots || d.unsigned > slots-1 {
		t.Errorf("%+v, want 1 refused, %d accepted and at most %d renewed", d, slots, slots-1)
	}
	if srv.FailedLogins() != 1 || srv.Lockouts() != 0 {
		t.Errorf("%d failed logins and %d lockouts, want 1 and 0", srv.FailedLogins(), srv.Lockouts())
	}
}

// TestDigestCountCap: a nonce signs 16 requests, then is renewed; a server that takes fewer is
// refused once, and its cap learnt.
func TestDigestCountCap(t *testing.T) {
	seq := func(parts ...any) []string {
		var out []string
		for i := 0; i < len(parts); i += 2 {
			for range parts[i+1].(int) {
				out = append(out, parts[i].(string))
			}
		}
		return out
	}
	cases := []struct {
		name   string
		o      atlastest.Options
		calls  int
		want   []string
		failed int
	}{
		{"no cap", atlastest.Options{}, 40,
			seq("none 401", 1, "digest 200", 16, "none 401", 1, "digest 200", 16, "none 401", 1, "digest 200", 8), 0},
		// Counts from 6 on refused stale=true: 5 per nonce.
		{"5 counts per nonce", atlastest.Options{NoncePolicy: atlastest.Lockout, Lockout: atlastest.LockoutLimits{Replays: 6}}, 12,
			seq("none 401", 1, "digest 200", 5, "digest 401", 1, "digest 200", 5, "none 401", 1, "digest 200", 2), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, tc.o)
			c, _ := newTestClient(t, srv, withDigest)
			withDigestClock(c, frozen)
			for range tc.calls {
				if _, err := c.Snapshots(t.Context(), cloudTarget); err != nil {
					t.Fatal(err)
				}
			}
			if got := digestSequence(srv); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("requests %v\nwant %v", got, tc.want)
			}
			if srv.FailedLogins() != tc.failed {
				t.Errorf("%d failed logins, want %d", srv.FailedLogins(), tc.failed)
			}
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
	clock := &testClock{t: testNow}
	srv := newFake(t, atlastest.Options{Now: clock.now, NonceTTL: 2 * time.Second})
	c, _ := newTestClient(t, srv, withDigest)
	withDigestClock(c, clock.now)
	call := func() {
		t.Helper()
		if _, err := c.Snapshots(t.Context(), cloudTarget); err != nil {
			t.Fatal(err)
		}
	}
	call()
	// The nonce expires before its second use: refused stale, answered with the new challenge.
	clock.advance(3 * time.Second)
	call()
	call()
	// Nonces are now renewed at half the age the server refused.
	clock.advance(3 * time.Second)
	call()
	call()
	want := []string{
		"none 401", "digest 200",
		"digest 401", "digest 200",
		"digest 200",
		"none 401", "digest 200",
		"digest 200",
	}
	if got := digestSequence(srv); !reflect.DeepEqual(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}

func TestDigestRejectsWrongKey(t *testing.T) {
	srv := newFake(t, atlastest.Options{NoncePolicy: atlastest.Lockout})
	c, _ := newTestClient(t, srv, func(c *Config) { c.APIKey, c.ServiceAccount = &APIKey{testPublic, "wrong-private-key"}, nil })
	// The second call sends no credentials: the server refused the key moments ago.
	for range 2 {
		_, err := c.Projects(t.Context())
		var ae *Error
		if !errors.As(err, &ae) || !ae.Unauthorized() {
			t.Fatalf("got %v", err)
		}
		if want := "atlas: listGroups GET /api/atlas/v2/groups: HTTP 401 UNAUTHORIZED: You are not authorized for this resource."; err.Error() != want {
			t.Errorf("got %q\nwant %q", err, want)
		}
	}
	if want := []string{"none 401", "digest 401", "none 401"}; !reflect.DeepEqual(digestSequence(srv), want) {
		t.Errorf("requests %v, want %v (challenge + one attempt, then no credentials)", digestSequence(srv), want)
	}
	if srv.FailedLogins() != 1 {
		t.Errorf("%d failed logins, want 1", srv.FailedLogins())
	}
}

// TestDigestKeyRevokedAndRestored: a key revoked while the client was idle costs one failed
// login per keyRetry, however many calls are made at once; restored, it is used again once
// keyRetry has passed.
func TestDigestKeyRevokedAndRestored(t *testing.T) {
	const slots = 8
	clock := &testClock{t: testNow}
	srv := newFake(t, atlastest.Options{Now: clock.now, NoncePolicy: atlastest.Lockout})
	c := clientWithSessions(t, srv, slots, func(c *Client) { withDigestClock(c, clock.now) })
	srv.SetCredentials(testClientID, testSecret, testPublic, "rotated")
	clock.advance(time.Minute)
	srv.Reset()
	var refused int
	burst := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 4*slots)
		for range 4 * slots {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.Snapshots(t.Context(), cloudTarget)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			var ae *Error
			if !errors.As(err, &ae) || !ae.Unauthorized() {
				t.Fatalf("revoked key: %v", err)
			}
			refused++
		}
	}
	// One call signs alone, with a new nonce (the sessions are too old): refused, the key. The
	// others wait for its answer, then send no credentials.
	burst()
	clock.advance(keyRetry - time.Minute)
	burst()
	if d := tallyDigest(t, srv); d != (digestTally{unsigned: 8 * slots, refused: 1}) || refused != 8*slots {
		t.Errorf("%+v for %d refused calls, want one signed request", d, refused)
	}
	if srv.FailedLogins() != 1 || srv.Lockouts() != 0 {
		t.Errorf("%d failed logins and %d lockouts, want 1 and 0", srv.FailedLogins(), srv.Lockouts())
	}
	// Once keyRetry has passed, one call tries the key again.
	srv.SetCredentials(testClientID, testSecret, testPublic, testPrivate)
	clock.advance(time.Minute)
	srv.Reset()
	if err := callConcurrently(t.Context(), c, 4*slots, slots); err != nil {
		t.Fatal(err)
	}
	if d := tallyDigest(t, srv); d.refused != 0 || d.accepted != 4*slots {
		t.Errorf("restored: %+v", d)
	}
}

// barrier holds requests without credentials until n of them are waiting, then lets every
// request through.
type barrier struct {
	next    *http.Transport
	mu      sync.Mutex
	n       int
	release chan struct{}
}

func (b *barrier) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
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

// clientWithSessions returns a digest client of srv that has n sessions, each used once: n
// calls each ask for a challenge, and none is answered before all have asked. setup runs on
// the client before the calls.
func clientWithSessions(t *testing.T, srv *atlastest.Server, n int, setup ...func(*Client)) *Client {
	t.Helper()
	c, _ := newTestClient(t, srv, withDigest, func(c *Config) {
		c.MaxConcurrency = n
		c.Transport = &barrier{next: http.DefaultTransport.(*http.Transport).Clone(), n: n, release: make(chan struct{})}
	})
	for _, f := range setup {
		f(c)
	}
	if err := callConcurrently(t.Context(), c, n, n); err != nil {
		t.Fatal(err)
	}
	if d := tallyDigest(t, srv); d != (digestTally{n, 0, n}) {
		t.Fatalf("setting up %d sessions: %+v", n, d)
	}
	return c
}

// TestDigestWaitHonoursTheContext: calls that wait for another call's answer before they sign
// (here the first call ever, while the key is untried) give up with their own deadline and
// send nothing more.
func TestDigestWaitHonoursTheContext(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv, withDigest)
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Hang: true, Times: 1})
	trialCtx, cancelTrial := context.WithCancel(t.Context())
	trialDone := make(chan error)
	go func() {
		_, err := c.Snapshots(trialCtx, cloudTarget)
		trialDone <- err
	}()
	for srv.Count("") < 2 {
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
	// Neither call left a session behind; the next call tries the key.
	if _, err := c.Snapshots(t.Context(), cloudTarget); err != nil {
		t.Fatal(err)
	}
	got := digestSequence(srv)
	if len(got) == 5 {
		got[1] = "hung" // its status is recorded whenever the fake notices the client left
	}
	if want := []string{"none 401", "hung", "none 401", "none 401", "digest 200"}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}
