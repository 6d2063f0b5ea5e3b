package atlastest

import (
	"net"
	"net/http"
	"time"

	"github.com/icholy/digest"
)

// LockoutLimits are the limits of the Lockout nonce policy, which checks digest auth as the
// nginx-http-auth-digest module does. A zero field takes the module's default (its directive
// in brackets).
type LockoutLimits struct {
	// Timeout is how long a nonce never used is valid after it is issued (auth_digest_timeout,
	// 60s).
	Timeout time.Duration
	// Expires is how long a nonce is valid after its first accepted use (auth_digest_expires,
	// 10s); then it is refused stale=true.
	Expires time.Duration
	// Drop is how long after its first accepted use a nonce is forgotten
	// (auth_digest_drop_time, 300s); then it is unknown and refused stale=false.
	Drop time.Duration
	// Replays: a count from this one on is refused stale=true (auth_digest_replays, 20), so a
	// nonce signs Replays-1 requests.
	Replays int
	// MaxTries failed logins from one address, each within EvasionTime of the one before and
	// no success between, lock that address out for EvasionTime after the last of them
	// (auth_digest_maxtries, 5; auth_digest_evasion_time, 300s).
	MaxTries    int
	EvasionTime time.Duration
}

func (l LockoutLimits) withDefaults() LockoutLimits {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&l.Timeout, time.Minute)
	set(&l.Expires, 10*time.Second)
	set(&l.Drop, 5*time.Minute)
	set(&l.EvasionTime, 5*time.Minute)
	if l.Replays == 0 {
		l.Replays = 20
	}
	if l.MaxTries == 0 {
		l.MaxTries = 5
	}
	return l
}

// evasion is what the Lockout policy remembers of one client address.
type evasion struct {
	fails int
	until time.Time // the failed logins count (and a lockout lasts) until then
}

// The module counts a failed login for every request whose digest credentials it parsed and
// did not accept: a wrong key, and as much a stale nonce (expired, or a count at the replay
// cap), an unknown nonce or a count used before. A request without credentials is answered
// with a challenge and counts nothing; a success clears the count. A locked-out address gets
// a bare 401 (no challenge) for everything, and nothing it sends then counts.

// lockedOut reports whether r's address is locked out; s.mu must be held.
func (s *Server) lockedOut(r *http.Request, now time.Time) bool {
	e := s.evasions[addressOf(r)]
	return e != nil && e.fails >= s.opts.Lockout.MaxTries && now.Before(e.until)
}

// loginFailed counts a failed login from r's address; s.mu must be held.
func (s *Server) loginFailed(r *http.Request, now time.Time) {
	a := addressOf(r)
	e := s.evasions[a]
	if e == nil {
		e = &evasion{}
		s.evasions[a] = e
	}
	if now.After(e.until) {
		e.fails = 0
	}
	e.fails++
	e.until = now.Add(s.opts.Lockout.EvasionTime)
	s.failedLogins++
	s.inARow = max(s.inARow, e.fails)
	if e.fails == s.opts.Lockout.MaxTries {
		s.lockouts++
	}
}

// loginSucceeded clears the count of r's address; s.mu must be held.
func (s *Server) loginSucceeded(r *http.Request) {
	delete(s.evasions, addressOf(r))
}

func addressOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// checkLockout checks digest credentials under the Lockout policy, in the module's order: key
// (user, realm, response, URI), count cap, nonce known, nonce fresh, count unused. It returns
// 0 if they are accepted, or the answer it wrote. s.mu must be held.
func (s *Server) checkLockout(w http.ResponseWriter, r *http.Request, cred *digest.Credentials, now time.Time) int {
	l := s.opts.Lockout
	fail := func(stale bool) int {
		s.loginFailed(r, now)
		s.challenge(w, stale, now)
		return http.StatusUnauthorized
	}
	key := s.orgs[0]
	if key.PublicKey == "" || cred.Username != key.PublicKey || cred.Realm != realm || cred.URI != r.URL.RequestURI() {
		return fail(false)
	}
	want, err := digest.Digest(&digest.Challenge{Realm: realm, Nonce: cred.Nonce, Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: r.Method, URI: cred.URI, Count: cred.Nc, Cnonce: cred.Cnonce, Username: key.PublicKey, Password: key.PrivateKey})
	if err != nil || want.Response != cred.Response {
		return fail(false)
	}
	if cred.Nc < 0 || cred.Nc >= l.Replays {
		return fail(true)
	}
	n, ok := s.nonces[cred.Nonce]
	if ok && !now.Before(n.forget) {
		delete(s.nonces, cred.Nonce)
		ok = false
	}
	switch {
	case !ok:
		return fail(false)
	case !now.Before(n.expires):
		return fail(true)
	case n.seen[cred.Nc]:
		return fail(false)
	}
	if n.uses == 0 {
		n.expires, n.forget = now.Add(l.Expires), now.Add(l.Drop)
	}
	n.seen[cred.Nc] = true
	n.uses++
	s.loginSucceeded(r)
	return 0
}

// FailedLogins returns how many failed logins the Lockout policy counted since the last Reset.
func (s *Server) FailedLogins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failedLogins
}

// FailedInARow returns the most failed logins the Lockout policy counted from one address with
// no success between (what it locks out on) since the last Reset.
func (s *Server) FailedInARow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inARow
}

// Lockouts returns how many times the Lockout policy locked an address out since the last
// Reset.
func (s *Server) Lockouts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lockouts
}
