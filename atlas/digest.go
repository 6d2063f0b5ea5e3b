package atlas

import (
	"io"
	"net/http"
	"sync"

	"github.com/icholy/digest"
)

// digestAuth signs calls with HTTP digest auth for an API key. github.com/icholy/digest parses
// challenges and computes and formats credentials; this type decides which nonce and nonce count
// each call uses.
//
// Atlas does not document how it checks nonce counts, and servers differ: RFC 7616 only forbids
// a count used before; some refuse a count not above the last one seen for the nonce, so that
// concurrent calls sharing a nonce are refused when they overtake each other on the way; some
// accept each nonce once. So each call checks out a session (a challenge and its count) for
// itself, signs with the session's next count and puts it back: a server sees the counts of
// each nonce one after the other, in order. A session is made, at the cost of one challenge
// round trip, only when every session is in use, so there are never more sessions than calls in
// flight (the gate above bounds those).
type digestAuth struct {
	user, pass string
	next       http.RoundTripper

	mu   sync.Mutex
	idle []*session
	// Whether the server accepts a nonce for a second request is unknown until a second use
	// was accepted (reuseOK) or refusedReuses reached oneUseAfter (oneUse).
	reuseOK, oneUse bool
	refusedReuses   int
	// trying is set while one call tries a second use before reuseOK is known; the others
	// wait on tried for its answer rather than each risk a refusal.
	trying bool
	tried  chan struct{}
}

// oneUseAfter is how many second uses of a nonce must be refused, with none accepted, before
// the server is taken to accept each nonce once. One refusal could be a nonce that expired or
// a server that restarted.
const oneUseAfter = 2

// session is a server challenge and the last nonce count sent with it.
type session struct {
	chal *digest.Challenge
	nc   int
}

func newDigest(k APIKey, next http.RoundTripper) *digestAuth {
	return &digestAuth{user: k.PublicKey, pass: k.PrivateKey, next: next, tried: make(chan struct{})}
}

// RoundTrip sends r with the credentials of a session, or first asks for a challenge when no
// session is free. A 401 carrying a new challenge (the nonce was stale, used up, or its count
// refused) is answered once more with that challenge, by this call alone; a 401 to that is the
// key refused. Requests carry no body (the client sends only GETs), so one is sent again as is.
func (d *digestAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	s, trial, err := d.checkout(r)
	if err != nil {
		return nil, err
	}
	if s == nil {
		// An unsigned request, answered with a challenge: not a failed login for the server.
		resp, err := d.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		chal, ok := challengeOf(resp, "")
		if !ok {
			return resp, nil
		}
		discard(resp)
		return d.send(r, &session{chal: chal})
	}
	resp, err := d.sign(r, s)
	if err != nil {
		d.settle(trial, false, false)
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		// A 429 or 5xx may come from before authentication, so it proves nothing.
		d.settle(trial, resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500, false)
		d.checkin(s)
		return resp, nil
	}
	chal, ok := challengeOf(resp, s.chal.Nonce)
	if !ok {
		d.settle(trial, false, false)
		return resp, nil
	}
	discard(resp)
	resp, err = d.send(r, &session{chal: chal})
	// The second use was refused for being one only if the new nonce's first use was accepted
	// (not if the key was).
	d.settle(trial, false, err == nil && resp.StatusCode != http.StatusUnauthorized)
	return resp, err
}

// send signs r with the new session s and keeps s if the server accepted it.
func (d *digestAuth) send(r *http.Request, s *session) (*http.Response, error) {
	resp, err := d.sign(r, s)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		d.checkin(s)
	}
	return resp, nil
}

// sign sends r with the credentials of s's next count. The count is spent even if the request
// fails; a session whose request failed is dropped (its count may or may not have reached the
// server, and a server may insist on the exact next count).
func (d *digestAuth) sign(r *http.Request, s *session) (*http.Response, error) {
	s.nc++
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

// checkout returns a free session for r, or nil when r must ask for a challenge: none is free,
// or the server takes each nonce once. Not reusing nonces on such a server saves no round trip
// (a refused second use brings a new challenge too), but it saves a refused request per call:
// each is a failed login to the server, which may log it, alert on it or lock the key out.
// What it costs: if the server starts accepting reuse later, calls still ask for a challenge
// each until the client is rebuilt (restart or reload). trial says r is the one call trying a
// second use while the server's answer to that is unknown.
func (d *digestAuth) checkout(r *http.Request) (s *session, trial bool, err error) {
	for {
		d.mu.Lock()
		switch {
		case d.oneUse || len(d.idle) == 0:
			d.mu.Unlock()
			return nil, false, nil
		case d.reuseOK || !d.trying:
			s = d.idle[len(d.idle)-1]
			d.idle = d.idle[:len(d.idle)-1]
			trial = !d.reuseOK
			d.trying = trial
			d.mu.Unlock()
			return s, trial, nil
		}
		tried := d.tried
		d.mu.Unlock()
		select {
		case <-tried:
		case <-r.Context().Done():
			return nil, false, r.Context().Err()
		}
	}
}

// checkin puts s back for another call, unless the server takes each nonce once.
func (d *digestAuth) checkin(s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.oneUse {
		d.idle = append(d.idle, s)
	}
}

// settle records what a trial call learnt: that the server accepted a second use of a nonce,
// or refused one with a new challenge; then it lets the waiting calls go on.
func (d *digestAuth) settle(trial, accepted, refused bool) {
	if !trial {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case accepted:
		d.reuseOK = true
	case refused:
		d.refusedReuses++
		if d.refusedReuses >= oneUseAfter {
			d.oneUse, d.idle = true, nil
		}
	}
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
