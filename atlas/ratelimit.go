package atlas

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// maxRetryAfter caps the wait a Retry-After may ask for. Atlas's buckets refill every
// minute; a larger value is broken or hostile (one of 1e9 seconds would pause a bucket for 31
// years), and a call with a deadline is held no longer than that anyway.
const maxRetryAfter = 5 * time.Minute

// retryAfter parses Retry-After as seconds or an HTTP date, at most maxRetryAfter.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	// A number past uint64 parses as the largest one, with ErrRange: still "very long".
	if s, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return time.Duration(min(s, uint64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// errPaused is a call not sent because Atlas paused its bucket past the call's deadline. It
// names no duration: a countdown would read differently at every refresh, and be logged anew.
var errPaused = errors.New("not sent: Atlas rate-limited this endpoint set for longer than the call may wait")

// admit waits until a call may be sent to b and takes a slot for it: past any pause Atlas asked
// for, through the token bucket, then for a slot. A 429 may pause b during either of the last
// two waits, so the pause is looked at again after each, just before sending: calls queued
// behind the limiter or the slots never go out into a pause, and none holds a slot through one.
func (c *Client) admit(ctx context.Context, b *bucket) (*slot, error) {
	for {
		if err := c.waitPause(ctx, b); err != nil {
			return nil, err
		}
		if err := b.limiter.Wait(ctx); err != nil {
			return nil, err
		}
		if b.pausedAt(c.now()) {
			continue
		}
		sl, err := c.slots.acquire(ctx, c.share)
		if err != nil {
			return nil, err
		}
		if !b.pausedAt(c.now()) {
			return sl, nil
		}
		sl.release(false)
	}
}

// waitPause waits out b's pause, if any; a call whose deadline falls inside it fails at once.
func (c *Client) waitPause(ctx context.Context, b *bucket) error {
	until, holder := b.paused()
	if d := until.Sub(c.now()); d > 0 {
		if dl, ok := ctx.Deadline(); ok && !until.Before(dl) {
			return errPaused
		}
		// The pause also ends when the call that received it ends.
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(holder, cancel)()
		if err := c.sleep(sctx, d); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// bucket is the client's side of one Atlas rate-limit bucket.
type bucket struct {
	limiter *rate.Limiter
	mu      sync.Mutex
	until   time.Time
	// holder is the context of the call that received the pause. The pause ends with it, at
	// the latest at its deadline, so no pause outlives the refresh that received it: the next
	// refresh asks Atlas again, whatever Retry-After said.
	holder context.Context
	users  int // calls using the bucket now; guarded by limiters.mu
}

func (b *bucket) pause(ctx context.Context, until time.Time) {
	if dl, ok := ctx.Deadline(); ok && until.After(dl) {
		until = dl
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holder == nil || b.holder.Err() != nil || until.After(b.until) {
		b.until, b.holder = until, ctx
	}
}

// paused returns the end of the current pause (zero when none) and the context it ends with.
func (b *bucket) paused() (time.Time, context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holder == nil || b.holder.Err() != nil {
		return time.Time{}, nil
	}
	return b.until, b.holder
}

// pausedAt says whether b is paused at now.
func (b *bucket) pausedAt(now time.Time) bool {
	until, _ := b.paused()
	return until.After(now)
}

// idle says whether b is as a new bucket would be at now, so that dropping it changes nothing:
// no call uses it, its limiter is full and it is not paused; limiters.mu must be held.
func (b *bucket) idle(now time.Time) bool {
	return b.users == 0 && b.limiter.TokensAt(now) >= float64(b.limiter.Burst()) && !b.pausedAt(now)
}

// limiters holds one bucket per (endpoint set, project) in use. Projects come and go, so the
// idle buckets are dropped whenever the map has doubled since they last were: it holds at most
// twice the buckets that were busy (in use, spent or paused) then, or minSweep, at an amortised
// constant cost per new bucket.
type limiters struct {
	factor  float64
	mu      sync.Mutex
	m       map[[2]string]*bucket
	sweepAt int // size of m at which the idle buckets are next dropped
}

// minSweep is the fewest buckets worth a sweep.
const minSweep = 64

// atlasLimits are Atlas's published bucket sizes and refills per minute
// (https://www.mongodb.com/docs/atlas/api/api-rate-limit/). Its table names no set for reading
// an organisation: that one takes the smallest bucket the page shows, its example for /orgs
// (10, refilling 5 a minute); the exporter reads one organisation per full discovery.
var atlasLimits = map[spec.Set][2]float64{
	spec.SetProjects:          {1200, 500},
	spec.SetClusters:          {10000, 5000},
	spec.SetClusterDetails:    {300, 100},
	spec.SetFlexClusters:      {1200, 500},
	spec.SetServerless:        {1200, 500},
	spec.SetCloudBackups:      {1200, 500},
	spec.SetFlexSnapshots:     {1200, 500},
	spec.SetSharedSnapshots:   {4000, 2000},
	spec.SetServerlessBackups: {1200, 500},
	spec.SetLegacyBackup:      {1200, 500},
	spec.SetOrganizations:     {10, 5},
}

// bucketRate is the client's share factor of the refill rate and capacity of set's bucket.
func bucketRate(set spec.Set, factor float64) (rate.Limit, int) {
	a := atlasLimits[set]
	return rate.Limit(a[1] * factor / 60), max(1, int(a[0]*factor))
}

func newLimiters(factor float64) *limiters {
	return &limiters{factor: factor, m: map[[2]string]*bucket{}, sweepAt: minSweep}
}

// get returns the bucket of set and project for a call, which must call done with it when it
// has ended; now is the client's clock.
func (l *limiters) get(set spec.Set, project string, now time.Time) *bucket {
	if set == spec.SetProjects || set == spec.SetClusterDetails || set == spec.SetOrganizations {
		project = "" // counted per user, not per project
	}
	key := [2]string{string(set), project}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.sweepAt {
			l.sweep(now)
		}
		b = &bucket{limiter: rate.NewLimiter(bucketRate(set, l.factor))}
		l.m[key] = b
	}
	b.users++
	return b
}

// done says a call that got b from get has ended.
func (l *limiters) done(b *bucket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b.users--
}

// sweep drops the idle buckets; l.mu must be held.
func (l *limiters) sweep(now time.Time) {
	for key, b := range l.m {
		if b.idle(now) {
			delete(l.m, key)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.m))
}

// setFactor rescales every bucket to a new share of Atlas's limits, keeping the tokens spent.
func (l *limiters) setFactor(f float64) {
	if f <= 0 {
		f = DefaultRateLimitFactor
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f == l.factor {
		return
	}
	l.factor = f
	for key, b := range l.m {
		limit, burst := bucketRate(spec.Set(key[0]), f)
		b.limiter.SetLimit(limit)
		b.limiter.SetBurst(burst)
	}
}
