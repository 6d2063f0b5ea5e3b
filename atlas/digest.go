package atlas

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// digestAuth signs calls with HTTP digest auth for an API key. github.com/icholy/digest parses
// challenges and computes and formats credentials; this type decides which nonce and nonce count
// each call uses, and when a nonce is too old to use.
//
// Atlas does not document how it checks nonces, and servers differ: RFC 7616 only forbids a
// count used before; some refuse a count not above the last one seen for the nonce; some
// accept each nonce once; some let a nonce live a few seconds after its first use, sign a
// capped number of requests, and lock an address out after a few failed logins in a row,
// counting a stale nonce as one (the nginx-http-auth-digest module: 10 s, 19 requests, 5
// failures within 300 s with no success between). So each call checks out a session (a
// challenge and its count) for itself and signs with its next count, so that a server sees the
// counts of each nonce in order; and the client trusts only what the server has shown. A
// session is reused only while its age and count are within those of a reuse the server
// accepted (provenAge, provenCount) and the key was accepted lately; a use beyond that is a
// guess, which one call at a time makes, so that a guess costs at most one failed login. A
// session at maxAge or maxUses is renewed with an unsigned request, which a server answers with
// a challenge and never counts as a failed login. Both limits start below what servers are seen
// to allow, and a reuse refused stale (the key was right, the nonce old) lowers one of them.
type digestAuth struct {
	user, pass string
	next       http.RoundTripper
	now        func() time.Time

	mu   sync.Mutex
	idle []*session
	// The oldest age (at the server, at least) and highest count at which the server accepted
	// a nonce's reuse.
	provenAge   time.Duration
	provenCount int
	// slow is the slowest round trip of late: a request may reach the server that much after
	// it was sent, so a nonce that much older than measured here.
	slow time.Duration
	// A session this old, or that has signed this many requests, is renewed, not reused.
	maxAge  time.Duration
	maxUses int
	// When the server last accepted a signed request, and when it last refused the key (zero
	// once it accepts one again).
	acceptedAt, refusedAt time.Time
	// trying is set while one call makes a guess; calls that doubt the key wait on tried.
	trying bool
	tried  chan struct{}
}

const (
	// renewAge is the age at which a nonce is renewed until a server shows it needs less: half
	// the nginx-http-auth-digest module's default (10 s after its first use).
	renewAge = 5 * time.Second
	// renewUses is how many requests a nonce signs until a server shows it takes fewer: the
	// module refuses count 20 by default.
	renewUses = 16
	// keyTrust is how long an accepted key is trusted without a new proof: after a quiet spell
	// (between refreshes) one call alone signs first, in case the key was revoked meanwhile.
	keyTrust = renewAge
	// keyRetry spaces the signed requests after the server refused the key. In between, calls
	// send no credentials and return the server's 401, which no server counts as a failed
	// login, so a revoked key cannot lock the address out (the module forgets failures after
	// 300 s) and a restored one is used again within this time.
	keyRetry = 5 * time.Minute
)

// session is a server challenge, the last nonce count sent with it, and its times: when the
// challenge arrived, when the answer to its first accepted use arrived (the server counts the
// nonce's age from that use at the latest) and when its last count was sent.
type session struct {
	chal              *digest.Challenge
	nc                int
	born, first, sent time.Time
}

func newDigest(k APIKey, next http.RoundTripper) *digestAuth {
	return &digestAuth{
		user: k.PublicKey, pass: k.PrivateKey, next: next, now: time.Now,
		provenCount: 1, maxAge: renewAge, maxUses: renewUses, tried: make(chan struct{}),
	}
}

// verdict is what a call does next.
type verdict int

const (
	sign  verdict = iota // sign with the session
	renew                // ask for a new challenge
	hold                 // send no credentials: the key was refused lately
)

// call is one RoundTrip.
type call struct {
	d       *digestAuth
	r       *http.Request
	guessed bool           // this call holds the one guess
	last    *http.Response // the last 401 received, answered if the call goes no further
	signed  int
}

// RoundTrip sends r with the credentials of a session, asking for a challenge first when no
// session fits. A 401 to a reused nonce that carries a new challenge is answered once more with
// that challenge; a 401 to a new nonce is the key refused. Requests carry no body (the client
// sends only GETs), so one is sent again as is.
func (d *digestAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	c := &call{d: d, r: r}
	resp, err := c.run()
	if c.guessed {
		d.endGuess()
	}
	if c.last != nil && c.last != resp {
		discard(c.last)
	}
	return resp, err
}

func (c *call) run() (*http.Response, error) {
	d := c.d
	var s *session
	for {
		v, err := c.admit(&s)
		switch {
		case err != nil:
			return nil, err
		case v == hold:
			if c.last != nil {
				return c.last, nil
			}
			return d.next.RoundTrip(c.r)
		case v == renew:
			resp, chal, err := c.ask()
			if chal == nil {
				return resp, err
			}
			s = &session{chal: chal, born: d.now()}
			continue
		}
		c.keep(nil)
		resp, err := d.sign(c.r, s)
		c.signed++
		if err != nil {
			// The session is dropped: its count may or may not have reached the server, and a
			// server may insist on the exact next count.
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			d.answered(s, resp.StatusCode)
			return resp, nil
		}
		c.keep(resp)
		chal, ok := challengeOf(resp, s.chal.Nonce)
		switch {
		case ok && chal.Stale && c.signed == 1:
			// The key was right and the nonce old: renew it (the answer's challenge) and learn.
			d.stale(s)
			if c.guessed {
				d.endGuess()
				c.guessed = false
			}
		case ok && s.nc > 1 && c.signed == 1:
			// A nonce unknown (the server forgot it, or another server made it), a count
			// refused, or the key: the new nonce tells, one call at a time. Nothing is learnt:
			// the server did not say the nonce was old.
			d.doubt()
		case ok && chal.Stale:
			return resp, nil
		default:
			// A new nonce refused, or no new challenge (an address locked out): the key.
			d.refuse()
			return resp, nil
		}
		s = &session{chal: chal, born: d.now()}
	}
}

// keep makes resp (nil: none) the answer the call gives if it goes no further.
func (c *call) keep(resp *http.Response) {
	if c.last != nil {
		discard(c.last)
	}
	c.last = resp
}

// ask sends r without credentials, which a server answers with a challenge and never counts as
// a failed login. It returns the challenge, or the answer to pass on when there is none.
func (c *call) ask() (*http.Response, *digest.Challenge, error) {
	resp, err := c.d.next.RoundTrip(c.r)
	if err != nil {
		return nil, nil, err
	}
	chal, ok := challengeOf(resp, "")
	if !ok {
		return resp, nil, nil
	}
	c.keep(resp)
	return nil, chal, nil
}

// admit decides how the call goes on with *s (nil: a session from the pool, if one fits). A
// session the server has shown it accepts is signed with at once; otherwise signing is a guess:
// the call makes it if no other call is guessing, else renews the session (a round trip, as
// waiting would be, and no failed login) or, when the key itself is in doubt, waits.
func (c *call) admit(s **session) (verdict, error) {
	d := c.d
	for {
		d.mu.Lock()
		now := d.now()
		if d.held(now) {
			d.mu.Unlock()
			return hold, nil
		}
		if *s != nil && (*s).nc > 0 && d.due(*s, now) {
			*s = nil // limits learnt while this call waited
		}
		if *s == nil && c.signed == 0 {
			*s = d.pick(now)
		}
		switch {
		case *s == nil:
			d.mu.Unlock()
			return renew, nil
		case c.guessed || d.certain(*s, now):
			d.mu.Unlock()
			return sign, nil
		case !d.trying:
			d.trying, c.guessed = true, true
			d.mu.Unlock()
			return sign, nil
		case (*s).nc > 0 && d.keyTrusted(now):
			*s = nil
			d.mu.Unlock()
			return renew, nil
		}
		tried := d.tried
		d.mu.Unlock()
		select {
		case <-tried:
		case <-c.r.Context().Done():
			return 0, c.r.Context().Err()
		}
	}
}

// pick takes a session from the pool, dropping those due for renewal: one the server has shown
// it accepts if there is one, else the oldest (of those, the furthest counted), which the call
// guesses with if no other call is guessing (its answer proves the most for the others) and
// otherwise drops and renews, so that the pool never holds more sessions than there were calls
// in flight. d.mu must be held.
func (d *digestAuth) pick(now time.Time) *session {
	keep := d.idle[:0]
	for _, s := range d.idle {
		if !d.due(s, now) {
			keep = append(keep, s)
		}
	}
	clear(d.idle[len(keep):])
	d.idle = keep
	i := -1
	for j := len(d.idle) - 1; j >= 0; j-- {
		s := d.idle[j]
		if d.certain(s, now) {
			i = j
			break
		}
		if o := d.idle[max(i, 0)]; i < 0 || s.born.Before(o.born) || s.born.Equal(o.born) && s.nc > o.nc {
			i = j
		}
	}
	if i < 0 {
		return nil
	}
	s := d.idle[i]
	d.idle = append(d.idle[:i], d.idle[i+1:]...)
	return s
}

// due says s is to be renewed rather than signed with again. d.mu must be held.
func (d *digestAuth) due(s *session, now time.Time) bool {
	return now.Sub(s.born) >= d.maxAge || s.nc >= d.maxUses
}

// certain says the server has shown it accepts s's next use: the key lately, and a new nonce or
// a reuse no older, even if slow to arrive, and no further counted. d.mu must be held.
func (d *digestAuth) certain(s *session, now time.Time) bool {
	return d.keyTrusted(now) && (s.nc == 0 || now.Sub(s.born)+d.slow <= d.provenAge && s.nc < d.provenCount)
}

// keyTrusted says the server accepted the key lately and has not refused it since. d.mu must be
// held.
func (d *digestAuth) keyTrusted(now time.Time) bool {
	return d.refusedAt.IsZero() && !d.acceptedAt.IsZero() && now.Sub(d.acceptedAt) < keyTrust
}

// held says the server refused the key less than keyRetry ago. d.mu must be held.
func (d *digestAuth) held(now time.Time) bool {
	return !d.refusedAt.IsZero() && now.Sub(d.refusedAt) < keyRetry
}

// sign sends r with the credentials of s's next count. The count is spent even if the request
// fails.
func (d *digestAuth) sign(r *http.Request, s *session) (*http.Response, error) {
	s.nc++
	s.sent = d.now()
	cred, err := digest.Digest(s.chal, digest.Options{
		Method: r.Method, URI: r.URL.RequestURI(), Count: s.nc, Username: d.user, Password: d.pass,
	})
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", cred.String())
	return d.next.RoundTrip(r2)
}

// answered records an answer other than 401 to s's last use and puts s back. A 429 or 5xx may
// come from before authentication, so it proves nothing.
func (d *digestAuth) answered(s *session, status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.slow = max(now.Sub(s.sent), d.slow-d.slow/8)
	if status != http.StatusTooManyRequests && status < 500 {
		if s.first.IsZero() {
			s.first = now
		} else {
			d.provenAge = max(d.provenAge, s.sent.Sub(s.first))
		}
		d.provenCount = max(d.provenCount, s.nc)
		d.acceptedAt, d.refusedAt = now, time.Time{}
	}
	if s.nc < d.maxUses {
		d.idle = append(d.idle, s)
	}
}

// stale records that s's last use was refused stale=true: the key is good, the nonce too old.
func (d *digestAuth) stale(s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.nc > 1 {
		d.learn(s)
	}
	d.acceptedAt, d.refusedAt = d.now(), time.Time{}
}

// learn lowers a limit after s's last use was refused for being old: the count if its age was
// proven, else the age. Taking a count for an age halves the age trusted, so a few refusals
// at most settle it; taking an age for a count would lower the count by one a refusal. d.mu
// must be held.
func (d *digestAuth) learn(s *session) {
	age := s.sent.Sub(s.born)
	if s.nc > d.provenCount && age+d.slow <= d.provenAge {
		d.maxUses = min(d.maxUses, s.nc-1)
		d.provenCount = min(d.provenCount, d.maxUses)
		return
	}
	d.maxAge = min(d.maxAge, age/2)
	d.provenAge = min(d.provenAge, d.maxAge)
}

// doubt makes every signed request a guess until the server accepts one again.
func (d *digestAuth) doubt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.acceptedAt = time.Time{}
}

// refuse records that the server refused the key: for keyRetry, calls send no credentials.
func (d *digestAuth) refuse() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refusedAt, d.acceptedAt, d.idle = d.now(), time.Time{}, nil
}

// endGuess lets the calls waiting for a guess's answer go on.
func (d *digestAuth) endGuess() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.trying = false
	close(d.tried)
	d.tried = make(chan struct{})
}

// challengeOf returns the digest challenge of a 401 answer if it names a nonce other than
// sent (the one just refused).
func challengeOf(resp *http.Response, sent string) (*digest.Challenge, bool) {
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, false
	}
	chal, err := digest.FindChallenge(resp.Header)
	if err != nil || chal.Nonce == sent {
		return nil, false
	}
	return chal, true
}

// discard reads a little of a body that is not passed on, so its connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func (d *digestAuth) CloseIdleConnections() {
	if ci, ok := d.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// reauthenticate says no: RoundTrip already answered a new challenge once, so a 401 here means
// the key itself was refused.
func (d *digestAuth) reauthenticate() bool { return false }
