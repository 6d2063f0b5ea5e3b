package atlastest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// SunsetMode is how a deprecated endpoint answers.
type SunsetMode int

// The answers a sunset endpoint can give; Atlas documents none of them for certain.
const (
	Working  SunsetMode = iota // still answers as before its sunset
	Gone                       // 410 VERSION_GONE
	NotFound                   // 404 RESOURCE_NOT_FOUND, as a removed route
)

// Sunset endpoints that can be switched.
const (
	EndpointTenant         = "tenant"
	EndpointServerless     = "serverless"
	EndpointServerlessList = "serverlessList"
)

// Options configures a Server.
type Options struct {
	Estate *Estate
	// Credentials the fake accepts, those of the default organisation (DefaultOrgID, named
	// OrgName, default "org"); either may be empty to refuse that method.
	ClientID, ClientSecret string
	PublicKey, PrivateKey  string
	OrgName                string
	// Orgs are the other organisations, each with its own credentials (orgs.go).
	Orgs     []Org
	TokenTTL time.Duration // default 1h
	NonceTTL time.Duration // default 5m
	// NonceUses is how many requests one nonce authenticates before Atlas answers stale=true;
	// 0 means unlimited until NonceTTL (challenge reuse allowed).
	NonceUses int
	// NoncePolicy is how the fake checks digest nonce counts (Atlas documents none).
	NoncePolicy NoncePolicy
	// Lockout sets the Lockout policy's limits.
	Lockout LockoutLimits
	// PageCap is the most items per page the fake returns, whatever itemsPerPage asked.
	PageCap int
	Sunset  map[string]SunsetMode
	// Retirements are the Deprecation and Sunset headers of the answers per operation and
	// resource version: nil sends DefaultRetirements, an empty map none.
	Retirements map[OpVersion]Retirement
	// Latency is added to every API request.
	Latency time.Duration
	// FinishAbandoned keeps serving a request whose client gave up until its latency has
	// passed, as Atlas's backends do: MaxInFlight then counts abandoned requests too.
	FinishAbandoned bool
	// Now is the fake's clock, for token and nonce expiry; default time.Now.
	Now func() time.Time
	// ExpireSnapshots deletes, before each answer, the snapshots whose expiry passed (by Now)
	// ExpireLag ago, as Atlas's deletion job does (Estate.Expire): a generated estate's
	// expired snapshot not yet deleted stays listed for an hour more.
	ExpireSnapshots bool
}

// NoncePolicy is what a server checks of the counts sent with one digest nonce.
type NoncePolicy int

// The policies digest servers are seen to apply. A count refused as a replay is answered with a
// fresh challenge and stale=false (the request looks forged); a used-up or expired nonce with
// stale=true (the key was right, only the nonce is old).
const (
	// ReplayCheck refuses a count already seen for the nonce, and nothing else (RFC 7616).
	ReplayCheck NoncePolicy = iota
	// IncreasingCount refuses a count not above the last one seen for the nonce, so of two
	// requests that overtake each other on the way, the later count arriving first wins.
	IncreasingCount
	// OneUse lets a nonce authenticate one request; the next is answered stale=true.
	OneUse
	// Lockout checks as the nginx-http-auth-digest module does (see LockoutLimits): nonces
	// expire after their first use and sign a capped number of requests, and an address that
	// fails to log in a few times in a row is locked out. NonceTTL and NonceUses do not apply.
	Lockout
)

// Fault changes the answer of matching requests.
type Fault struct {
	Latency    time.Duration
	Status     int    // answer with this HTTP status and an Atlas error body
	ErrorCode  string // errorCode for Status (default per status)
	RetryAfter string // Retry-After header value
	Body       string // answer 200 with exactly this body (malformed JSON, HTML, ...; the token endpoint too)
	Truncate   bool   // answer 200 but cut the body off halfway
	Hang       bool   // accept and never answer (until the client gives up or Close)
	Times      int    // apply this many times, then stop; 0 = always

	// Hostile answers, for the client's bounds.
	Redirect string // answer 307 Temporary Redirect to this URL (the token endpoint too)
	// Endless gives a listing a next link on every page, each page PageItems items (default:
	// as many as the listing has) cloned from the listing's own with ids never seen before.
	Endless    bool
	PageItems  int
	Duplicates bool // a listing page carries each of its items twice
}

// Request is one request the fake received.
type Request struct {
	Method, Path, Query, Operation, Accept, Auth, UserAgent string
	Status                                                  int
}

// Server is the fake Atlas.
type Server struct {
	*httptest.Server
	opts Options

	mu       sync.Mutex
	estate   *Estate
	faults   map[[3]string]*Fault // by organisation ("" for any), operation, cluster
	orgs     []Org                // the default organisation first, with Options' credentials
	tokens   map[string]issued    // by token
	nonces   map[string]*nonce
	issued   int // challenges (nonces) issued since the last Reset
	requests []Request
	counts   map[string]int
	byOrg    map[string]map[string]int // counts per organisation whose credentials were accepted
	orgIn    map[string]*[2]int        // per organisation: API requests in flight, the most since Reset
	inflight int
	maxIn    int
	gaveUp   int // API requests abandoned by their client during their latency
	gen      int // bumped by Reset
	hang     chan struct{}
	secrets  []string // every token issued and digest response received, for leak tests
	onPage   map[[2]string]PageHook

	// The Lockout policy's failed logins per client address, and since the last Reset: failed
	// logins, the most in a row from one address, lockouts.
	evasions                       map[string]*evasion
	failedLogins, inARow, lockouts int
	// answered maps an API request's index to the requests received when its answer began.
	answered map[int]int
}

// issued is a token the fake issued: when it expires, and to which organisation.
type issued struct {
	expires time.Time
	org     string
}

type nonce struct {
	expires time.Time
	forget  time.Time // Lockout: unknown from then on
	uses    int
	seen    map[int]bool
	last    int // highest count accepted
}

// NewServer starts a fake Atlas on a loopback port.
func NewServer(o Options) *Server {
	s := newServer(o)
	s.Server = httptest.NewServer(s)
	return s
}

// NewUnstartedServer returns a fake Atlas whose Server the caller starts (e.g. with TLS).
func NewUnstartedServer(o Options) *Server {
	s := newServer(o)
	s.Server = httptest.NewUnstartedServer(s)
	return s
}

func newServer(o Options) *Server {
	if o.TokenTTL == 0 {
		o.TokenTTL = time.Hour
	}
	if o.NonceTTL == 0 {
		o.NonceTTL = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Estate == nil {
		o.Estate = &Estate{}
	}
	if o.Retirements == nil {
		o.Retirements = DefaultRetirements()
	}
	o.Lockout = o.Lockout.withDefaults()
	if o.OrgName == "" {
		o.OrgName = "org"
	}
	orgs := append([]Org{{ID: DefaultOrgID, Name: o.OrgName, ClientID: o.ClientID, ClientSecret: o.ClientSecret, PublicKey: o.PublicKey, PrivateKey: o.PrivateKey}}, o.Orgs...)
	return &Server{
		opts: o, estate: o.Estate, faults: map[[3]string]*Fault{}, orgs: orgs, tokens: map[string]issued{},
		nonces: map[string]*nonce{}, counts: map[string]int{}, hang: make(chan struct{}), evasions: map[string]*evasion{}, answered: map[int]int{},
	}
}

// Close releases hung requests and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.hang:
	default:
		close(s.hang)
	}
	s.mu.Unlock()
	s.Server.Close()
}

// SetFault applies f to requests of operation op ("*" for any) on cluster ("" for any).
// A nil f removes the fault.
func (s *Server) SetFault(op, cluster string, f *Fault) { s.SetOrgFault("", op, cluster, f) }

// SetOrgFault applies f to the requests of SetFault whose credentials are those of
// organisation org (one whose credentials are refused has none); ahead of a fault for any.
func (s *Server) SetOrgFault(org, op, cluster string, f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.faults, [3]string{org, op, cluster})
		return
	}
	cp := *f
	s.faults[[3]string{org, op, cluster}] = &cp
}

// SetSunset changes how a sunset endpoint answers.
func (s *Server) SetSunset(endpoint string, m SunsetMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Sunset == nil {
		s.opts.Sunset = map[string]SunsetMode{}
	}
	s.opts.Sunset[endpoint] = m
}

// SetCredentials replaces the credentials of the default organisation (e.g. to revoke them
// mid-run); it also invalidates every issued token.
func (s *Server) SetCredentials(clientID, clientSecret, publicKey, privateKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.orgs[0]
	o.ClientID, o.ClientSecret, o.PublicKey, o.PrivateKey = clientID, clientSecret, publicKey, privateKey
	s.tokens = map[string]issued{}
}

// Update runs fn with the estate locked, to change it between refreshes.
func (s *Server) Update(fn func(*Estate)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.estate)
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ReceivedAfterAnswer returns the requests received after the fake began to answer the API
// request Requests()[i]: those sent while the answer was on its way, or after the client read
// it. It is nil while that request is unanswered.
func (s *Server) ReceivedAfterAnswer(i int) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.answered[i]
	if !ok {
		return nil
	}
	return append([]Request(nil), s.requests[n:]...)
}

// IssuedSecrets returns every bearer token the fake issued and every digest response it
// received, so tests can check that none of them leaks.
func (s *Server) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
}

// NoncesIssued returns how many digest challenges, each with a new nonce, the fake sent since
// the last Reset.
func (s *Server) NoncesIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Count returns how many requests of operation op were received ("" for all).
func (s *Server) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op == "" {
		return len(s.requests)
	}
	return s.counts[op]
}

// Counts returns the request count per operation.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// MaxInFlight returns the most requests the fake was serving at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn
}

// Abandoned returns how many API requests the client gave up on while the fake was still
// working on them (during their latency).
func (s *Server) Abandoned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gaveUp
}

// Reset forgets recorded requests, the in-flight maximum, the abandoned count and the counts of
// nonces, failed logins and lockouts (not the Lockout policy's state).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.counts, s.byOrg, s.maxIn, s.issued, s.gaveUp, s.answered = nil, map[string]int{}, nil, 0, 0, 0, map[int]int{}
	for _, in := range s.orgIn {
		in[1] = in[0]
	}
	s.failedLogins, s.inARow, s.lockouts = 0, 0, 0
	s.gen++
}

// apiError is Atlas's error body.
type apiError struct {
	Error      int      `json:"error"`
	ErrorCode  string   `json:"errorCode"`
	Detail     string   `json:"detail,omitempty"`
	Reason     string   `json:"reason"`
	Parameters []string `json:"parameters"`
}

var defaultCodes = map[int]string{
	400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "RESOURCE_NOT_FOUND",
	406: "INVALID_VERSION_DATE", 410: "VERSION_GONE", 429: "RATE_LIMITED_TOKEN_BUCKET",
	500: "UNEXPECTED_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE",
}

func writeError(w http.ResponseWriter, status int, code, detail string, params ...string) {
	if code == "" {
		code = defaultCodes[status]
	}
	if params == nil {
		params = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{Error: status, ErrorCode: code, Detail: detail, Reason: http.StatusText(status), Parameters: params})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/api/oauth/token" {
		status, org := s.token(w, r)
		s.record(r, "oauthToken", "basic", status)
		s.countFor(org, "oauthToken")
		return
	}
	rt, ok := route(r.URL.Path)
	if r.Method != http.MethodGet || !ok {
		s.record(r, "unknown", "", 404)
		writeError(w, 404, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path)
		return
	}
	// Recorded on arrival, so a request the client gave up on is counted before it returns.
	i := s.record(r, rt.op, "", 0)
	update := func(fn func(*Request)) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if i.gen == s.gen {
			fn(&s.requests[i.n])
		}
	}
	s.mu.Lock()
	s.inflight++
	s.maxIn = max(s.maxIn, s.inflight)
	s.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w, status: 200, answering: func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if i.gen == s.gen {
			s.answered[i.n] = len(s.requests)
		}
	}}
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
		update(func(q *Request) { q.Status = rec.status })
	}()
	authKind, org, authStatus := s.authenticate(w, r)
	update(func(q *Request) { q.Auth = authKind })
	s.countFor(org, rt.op)
	if authStatus != 0 {
		rec.status = authStatus
		return
	}
	defer s.inFlightFor(org)()
	s.serveAPI(rec, r, rt, org)
}

type statusRecorder struct {
	http.ResponseWriter
	status    int
	answering func() // called once, before the status line is written
	started   bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.started {
		r.started = true
		r.status = code
		r.answering()
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (to cut a body short).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.started {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

type recordIndex struct{ gen, n int }

// record stores a request and returns where, for updates until the next Reset.
func (s *Server) record(r *http.Request, op, auth string, status int) recordIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Operation: op, Accept: r.Header.Get("Accept"), Auth: auth, UserAgent: r.UserAgent(), Status: status})
	s.counts[op]++
	return recordIndex{s.gen, len(s.requests) - 1}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// token serves the OAuth2 client-credentials grant; it returns the status and the organisation
// the token was issued to.
func (s *Server) token(w http.ResponseWriter, r *http.Request) (int, string) {
	u, p, ok := r.BasicAuth()
	// The form read, the server notices a client that gives up (and ends the request's context).
	_ = r.ParseForm()
	s.mu.Lock()
	ttl := s.opts.TokenTTL
	org, known := s.orgByClient(u, p)
	f := s.faultFor(org.ID, "oauthToken", "")
	s.mu.Unlock()
	if f != nil && f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.hang:
		}
		return 0, org.ID
	}
	if f != nil && f.Redirect != "" {
		http.Redirect(w, r, f.Redirect, http.StatusTemporaryRedirect)
		return http.StatusTemporaryRedirect, ""
	}
	if f != nil && f.Status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(`{"error":"server_error"}`))
		return f.Status, ""
	}
	if f != nil && f.Body != "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(f.Body))
		return 200, ""
	}
	if !ok || !known || r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Invalid credentials provided."}`))
		return 401, ""
	}
	tok := randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = issued{expires: s.opts.Now().Add(ttl), org: org.ID}
	s.secrets = append(s.secrets, tok)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl.Seconds())})
	return 200, org.ID
}

const realm = "MMS Public API"

// authenticate checks Bearer or Digest credentials and returns the kind, the organisation they
// belong to and 0; on failure it has written the answer, and returns its status.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, string, int) {
	h := r.Header.Get("Authorization")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.opts.NoncePolicy == Lockout && s.lockedOut(r, now) {
		kind := "none"
		if digest.IsDigest(h) {
			kind = "digest"
		}
		writeError(w, 401, "UNAUTHORIZED", "You are not authorized for this resource.")
		return kind, "", 401
	}
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok, ok := s.tokens[strings.TrimPrefix(h, "Bearer ")]
		if !ok || now.After(tok.expires) {
			writeError(w, 401, "UNAUTHORIZED", "You are not authorized for this resource.")
			return "bearer", "", 401
		}
		return "bearer", tok.org, 0
	case digest.IsDigest(h):
		cred, err := digest.ParseCredentials(h)
		if err == nil {
			s.secrets = append(s.secrets, cred.Response)
		}
		if err == nil && s.opts.NoncePolicy == Lockout {
			// The Lockout policy knows the default organisation's key only.
			return "digest", DefaultOrgID, s.checkLockout(w, r, cred, now)
		}
		var org Org
		known := false
		if err == nil {
			org, known = s.orgByKey(cred.Username)
		}
		if !known || cred.Realm != realm {
			s.challenge(w, false, now)
			return "digest", "", 401
		}
		uses := s.opts.NonceUses
		if s.opts.NoncePolicy == OneUse {
			uses = 1
		}
		n, ok := s.nonces[cred.Nonce]
		if !ok || now.After(n.expires) || (uses > 0 && n.uses >= uses) {
			delete(s.nonces, cred.Nonce)
			s.challenge(w, true, now)
			return "digest", "", 401
		}
		want, err := digest.Digest(&digest.Challenge{Realm: realm, Nonce: cred.Nonce, Algorithm: "MD5", QOP: []string{"auth"}},
			digest.Options{Method: r.Method, URI: cred.URI, Count: cred.Nc, Cnonce: cred.Cnonce, Username: org.PublicKey, Password: org.PrivateKey})
		replay := n.seen[cred.Nc] || (s.opts.NoncePolicy == IncreasingCount && cred.Nc <= n.last)
		if err != nil || want.Response != cred.Response || cred.URI != r.URL.RequestURI() || replay {
			s.challenge(w, false, now)
			return "digest", "", 401
		}
		n.seen[cred.Nc] = true
		n.last = max(n.last, cred.Nc)
		n.uses++
		return "digest", org.ID, 0
	default:
		s.challenge(w, false, now)
		return "none", "", 401
	}
}

func (s *Server) challenge(w http.ResponseWriter, stale bool, now time.Time) {
	n := base64.RawURLEncoding.EncodeToString([]byte(randomHex(16)))
	ttl := s.opts.NonceTTL
	if s.opts.NoncePolicy == Lockout {
		ttl = s.opts.Lockout.Timeout
	}
	s.nonces[n] = &nonce{expires: now.Add(ttl), forget: now.Add(ttl), seen: map[int]bool{}}
	s.issued++
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", domain="", nonce="%s", algorithm=MD5, qop="auth", stale=%t`, realm, n, stale))
	writeError(w, 401, "UNAUTHORIZED", "You are not authorized for this resource.")
}

// faultFor returns the fault for a request of organisation org's credentials for op/cluster and
// consumes one use of it; s.mu must be held.
func (s *Server) faultFor(org, op, cluster string) *Fault {
	var keys [][3]string
	for _, o := range []string{org, ""} {
		keys = append(keys, [3]string{o, op, cluster}, [3]string{o, op, ""}, [3]string{o, "*", cluster}, [3]string{o, "*", ""})
	}
	for _, k := range keys {
		f, ok := s.faults[k]
		if !ok {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(s.faults, k)
			}
		}
		return f
	}
	return nil
}

type routeInfo struct {
	op       string
	versions []string
	org      string
	project  string
	cluster  string
	snapshot string
	byName   string
}

// versions are the resource versions the fake answers per operation, as Atlas's description
// offers them: a property of Atlas, kept apart from the versions the client sends.
var versions = map[string][]string{
	"listGroups": {"2023-01-01"}, "listClusterDetails": {"2023-01-01"}, "getGroupByName": {"2023-01-01"},
	"listGroupClusters": {"2023-01-01", "2023-02-01", "2024-08-05"}, "listGroupFlexClusters": {"2024-11-13"},
	"listGroupServerlessInstances": {"2023-01-01"}, "getGroupClusterBackupSchedule": {"2024-08-05"},
	"listGroupClusterBackupRestoreJobs": {"2023-01-01"}, "listGroupFlexClusterBackupRestoreJobs": {"2024-11-13"},
	"listGroupClusterBackupExports": {"2023-01-01"}, "getGroupBackupCompliancePolicy": {"2023-01-01", "2023-10-01"},
	"listGroupClusterBackupSnapshots": {"2023-01-01"}, "getGroupClusterBackupSnapshot": {"2023-01-01"},
	"listGroupClusterBackupSnapshotShardedClusters": {"2023-01-01"}, "getGroupClusterBackupSnapshotShardedCluster": {"2023-01-01"},
	"listGroupClusterBackupTenantSnapshots": {"2023-01-01"}, "getGroupClusterBackupTenantSnapshot": {"2023-01-01"},
	"listGroupClusterSnapshots": {"2023-01-01"}, "getGroupClusterSnapshot": {"2023-01-01"},
	"listGroupFlexClusterBackupSnapshots": {"2024-11-13"}, "getGroupFlexClusterBackupSnapshot": {"2024-11-13"},
	"listGroupServerlessBackupSnapshots": {"2023-01-01"}, "getGroupServerlessBackupSnapshot": {"2023-01-01"},
	"getOrg": {"2023-01-01"}, "listOrgs": {"2023-01-01"},
}

// fakeOnly are the operations the fake serves though the client sends none of them.
var fakeOnly = []spec.Operation{{Name: "listOrgs", Version: "2023-01-01", Paged: true, Path: "/orgs"}}

// template is the path of one operation of the client's table (package spec), split into
// segments: a literal, or a parameter in braces.
type template struct {
	op       string
	segments []string
	literals int
}

var templates = func() []template {
	var out []template
	for _, o := range append(spec.All(), fakeOnly...) {
		t := template{op: o.Name, segments: strings.Split(strings.TrimPrefix(o.Path, "/"), "/")}
		for _, seg := range t.segments {
			if !strings.HasPrefix(seg, "{") {
				t.literals++
			}
		}
		out = append(out, t)
	}
	return out
}()

// route maps a path onto an operation of the client's table: the template of as many segments
// whose literals match, the one with most literals where several do (.../snapshots/shardedClusters
// rather than .../snapshots/{snapshotId}).
func route(p string) (routeInfo, bool) {
	rest, ok := strings.CutPrefix(p, spec.Prefix+"/")
	if !ok {
		return routeInfo{}, false
	}
	seg := strings.Split(rest, "/")
	for i := range seg {
		seg[i], _ = url.PathUnescape(seg[i])
	}
	var best *template
	for i := range templates {
		t := &templates[i]
		if len(t.segments) != len(seg) || (best != nil && best.literals >= t.literals) {
			continue
		}
		if matches(t.segments, seg) {
			best = t
		}
	}
	if best == nil {
		return routeInfo{}, false
	}
	ri := routeInfo{op: best.op, versions: versions[best.op]}
	for i, name := range best.segments {
		switch name {
		case "{orgId}":
			ri.org = seg[i]
		case "{groupId}":
			ri.project = seg[i]
		case "{clusterName}", "{name}":
			ri.cluster = seg[i]
		case "{snapshotId}":
			ri.snapshot = seg[i]
		case "{groupName}":
			ri.byName = seg[i]
		}
	}
	return ri, true
}

// matches reports whether every literal of a template's segments is the path's.
func matches(template, seg []string) bool {
	for i, t := range template {
		if !strings.HasPrefix(t, "{") && t != seg[i] {
			return false
		}
	}
	return true
}

// sunsetOf names the switchable endpoint an operation belongs to.
func sunsetOf(op string) string {
	switch op {
	case "listGroupClusterBackupTenantSnapshots", "getGroupClusterBackupTenantSnapshot":
		return EndpointTenant
	case "listGroupServerlessBackupSnapshots", "getGroupServerlessBackupSnapshot":
		return EndpointServerless
	case "listGroupServerlessInstances":
		return EndpointServerlessList
	}
	return ""
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rt routeInfo, org string) {
	s.mu.Lock()
	f := s.faultFor(org, rt.op, rt.cluster)
	var fault Fault
	if f != nil {
		fault = *f
	}
	latency := s.opts.Latency + fault.Latency
	sunset := s.opts.Sunset[sunsetOf(rt.op)]
	retirements := s.opts.Retirements
	s.mu.Unlock()
	if latency > 0 {
		gaveUp := r.Context().Done()
		if s.opts.FinishAbandoned {
			gaveUp = nil
		}
		select {
		case <-time.After(latency):
		case <-gaveUp:
		case <-s.hang:
			return
		}
		if r.Context().Err() != nil {
			s.mu.Lock()
			s.gaveUp++
			s.mu.Unlock()
			return
		}
	}
	if fault.Hang {
		select {
		case <-r.Context().Done():
		case <-s.hang:
		}
		return
	}
	if fault.Redirect != "" {
		http.Redirect(w, r, fault.Redirect, http.StatusTemporaryRedirect)
		return
	}
	if fault.RetryAfter != "" {
		w.Header().Set("Retry-After", fault.RetryAfter)
	}
	if fault.Status != 0 {
		writeError(w, fault.Status, fault.ErrorCode, "injected fault")
		return
	}
	version, ok := acceptedVersion(r.Header.Get("Accept"), rt.versions)
	if !ok {
		writeError(w, 406, "INVALID_VERSION_DATE", "Invalid accept header or version date.")
		return
	}
	retirements[OpVersion{rt.op, version}].set(w.Header())
	switch sunset {
	case Gone:
		writeError(w, 410, "VERSION_GONE", "This happens when a resource is marked for sunset and the sunset date is in the past.")
		return
	case NotFound:
		writeError(w, 404, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path)
		return
	}
	s.mu.Lock()
	if s.opts.ExpireSnapshots {
		s.estate.Expire(s.opts.Now().Add(-ExpireLag))
	}
	body, status := s.answer(r, rt, org)
	if status == 200 {
		s.afterPage(r, rt)
	}
	remaining := 1200 - s.counts[rt.op]%1200
	s.mu.Unlock()
	if status != 200 {
		e := body.(apiError)
		writeError(w, status, e.ErrorCode, e.Detail, e.Parameters...)
		return
	}
	var raw []byte
	if fault.Body != "" {
		raw = []byte(fault.Body)
	} else {
		raw, _ = json.Marshal(reshape(r, body, fault))
	}
	w.Header().Set("Content-Type", "application/vnd.atlas."+rt.versions[len(rt.versions)-1]+"+json;charset=utf-8")
	w.Header().Set("RateLimit-Limit", "1200")
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(remaining))
	if fault.Truncate {
		// Promise the whole body, send half, and drop the connection.
		w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
		w.WriteHeader(200)
		_, _ = w.Write(raw[:len(raw)/2])
		// Hijacking flushes what was written; closing the connection then ends the body there.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	_, _ = w.Write(raw)
}

// acceptedVersion is the version of versions the Accept header names.
func acceptedVersion(accept string, versions []string) (string, bool) {
	for _, v := range versions {
		if strings.Contains(accept, "application/vnd.atlas."+v+"+json") {
			return v, true
		}
	}
	return "", false
}
