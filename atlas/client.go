package atlas

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is Atlas's commercial API host; Atlas for Government is https://cloud.mongodbgov.com.
const DefaultBaseURL = "https://cloud.mongodb.com"

// Defaults of Config's zero fields. They are the only copy: the config package fills absent
// keys from them, so a file and a bare Config behave alike.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultMaxConcurrency  = 8
	DefaultMaxBodyBytes    = 32 << 20
	DefaultRateLimitFactor = 0.8
)

// Observer receives one event per HTTP request the client sends (including digest challenges
// and token requests) and one per retry. Implementations must be safe for concurrent use.
type Observer interface {
	ObserveRequest(RequestEvent)
	ObserveRetry(operation, reason string)
}

// RequestEvent describes one HTTP exchange with Atlas.
type RequestEvent struct {
	Operation string
	Code      string // HTTP status code, or "error" when no response arrived
	Duration  time.Duration
	// RateLimitRemaining is Atlas's RateLimit-Remaining header; HasRateLimit is false when the
	// response had none (Atlas does not always send it).
	RateLimitRemaining float64
	HasRateLimit       bool
}

// RetryReasons are the reasons ObserveRetry reports.
var RetryReasons = []string{"rate_limited", "server_error", "network", "timeout", "token_rejected"}

// RetryPolicy bounds the retries of 429, 5xx and connection failures.
type RetryPolicy struct {
	MaxAttempts int           // total attempts, including the first
	BaseDelay   time.Duration // first backoff; doubles each retry
	MaxDelay    time.Duration // cap on one backoff (Retry-After may ask for more, up to the deadline)
}

// DefaultRetryPolicy is used where Config.Retry is zero.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 30 * time.Second}

// Config configures a Client.
type Config struct {
	BaseURL string // default DefaultBaseURL; http:// only for loopback hosts
	// Exactly one of the two credentials.
	ServiceAccount *ServiceAccount
	APIKey         *APIKey

	Timeout        time.Duration // per HTTP request; default 30s
	MaxConcurrency int           // HTTP requests in flight at most; default 8
	MaxBodyBytes   int64         // response size cap; default 32 MiB
	UserAgent      string        // default "atlas_backup_exporter"
	Retry          RetryPolicy
	// MaxBufferedBytes bounds the response bodies held at once across concurrent calls;
	// default 2 × MaxBodyBytes, and never below MaxBodyBytes + MaxConcurrency × 1 MiB.
	MaxBufferedBytes int64
	// RateLimitFactor scales the client-side limiter against Atlas's published limits; default
	// 0.8 (keep a fifth of every bucket for other tools).
	RateLimitFactor float64
	Observer        Observer
	// Transport is the underlying transport; default a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// ServiceAccount holds OAuth2 client credentials.
type ServiceAccount struct{ ClientID, ClientSecret string }

// APIKey holds a programmatic API key used with HTTP digest auth.
type APIKey struct{ PublicKey, PrivateKey string }

// Client talks to one Atlas API host with one set of credentials.
type Client struct {
	source   source // the host and credentials, which NewFrom compares
	base     *url.URL
	http     *http.Client
	auth     authenticator
	wire     *observer
	obs      Observer
	retry    RetryPolicy
	maxBody  int64
	ua       string
	timeout  time.Duration
	limits   *limiters
	bodies   *bodyBudget
	sleep    func(context.Context, time.Duration) error // injected in tests
	jitter   func(time.Duration) time.Duration          // injected in tests
	now      func() time.Time
	maxPages int
	maxItems int
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(RequestEvent) {}
func (nopObserver) ObserveRetry(string, string) {}

// ValidateBaseURL accepts https URLs, and http only for loopback hosts (tests, --demo).
func ValidateBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid base URL %q: %v", raw, err)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("invalid base URL %q: want scheme://host[:port] only", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("invalid base URL %q: plain http is only allowed for loopback hosts", raw)
		}
	default:
		return nil, fmt.Errorf("invalid base URL %q: scheme must be https", raw)
	}
	u.Path = ""
	return u, nil
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := ValidateBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if (cfg.ServiceAccount == nil) == (cfg.APIKey == nil) {
		return nil, errors.New("atlas: exactly one of service account or API key is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = 2 * cfg.MaxBodyBytes
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "atlas_backup_exporter"
	}
	if cfg.Retry.MaxAttempts <= 0 {
		cfg.Retry = DefaultRetryPolicy
	}
	if cfg.RateLimitFactor <= 0 {
		cfg.RateLimitFactor = DefaultRateLimitFactor
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.MaxConcurrency
		t.MaxIdleConns = 2 * cfg.MaxConcurrency
		cfg.Transport = t
	}
	c := &Client{
		base: base, obs: cfg.Observer, retry: cfg.Retry, maxBody: cfg.MaxBodyBytes, ua: cfg.UserAgent,
		timeout: cfg.Timeout, limits: newLimiters(cfg.RateLimitFactor), bodies: newBodyBudget(cfg.MaxBufferedBytes, cfg.MaxBodyBytes, cfg.MaxConcurrency),
		sleep: sleepCtx, jitter: fullJitter, now: time.Now, maxPages: 10000, maxItems: MaxListItems,
	}
	c.source = sourceOf(base, cfg)
	c.wire = &observer{next: cfg.Transport, obs: cfg.Observer}
	if cfg.ServiceAccount != nil {
		c.auth = newOAuth(base, *cfg.ServiceAccount, c.wire, cfg.Timeout, cfg.UserAgent)
	} else {
		c.auth = newDigest(*cfg.APIKey, c.wire)
	}
	c.http = &http.Client{
		Transport: newGate(cfg.MaxConcurrency, c.auth),
		// Atlas does not redirect API calls; following one could carry credentials elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// InFlight returns the number of HTTP requests in flight now.
func (c *Client) InFlight() int { return c.wire.current() }

// RequestsSent returns the number of HTTP requests sent so far (challenges and token requests
// included).
func (c *Client) RequestsSent() uint64 { return c.wire.total() }

// MaxInFlight returns the largest number of HTTP requests that were in flight at once.
func (c *Client) MaxInFlight() int { return c.wire.peak() }

// Close releases idle connections and revokes nothing: tokens expire on their own within the hour.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fullJitter spreads a backoff over [d/2, d] so that many clients do not retry in step.
func fullJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// scope names what a call is about, for errors and rate limits.
type scope struct{ ProjectID, Cluster string }

// fail builds the error of a call of op on path.
func (sc scope) fail(op operation, path string, status int, err error) *Error {
	return &Error{Operation: op.Name, ProjectID: sc.ProjectID, Cluster: sc.Cluster, Path: path, StatusCode: status, Err: err}
}

type opKey struct{}

func withOperation(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

func operationOf(ctx context.Context) string {
	if op, ok := ctx.Value(opKey{}).(string); ok {
		return op
	}
	return "unknown"
}

// apiURL is the URL of path (already escaped: names go through esc) with query q.
func (c *Client) apiURL(path string, q url.Values) *url.URL {
	// Keep the path as sent, and give Path its unescaped form.
	u := *c.base
	u.RawPath = apiPrefix + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = q.Encode()
	return &u
}

// get performs one GET with rate limiting and retries and passes the answer to decode.
func (c *Client) get(ctx context.Context, op operation, sc scope, u *url.URL, decode func([]byte) error) error {
	bucket := c.limits.get(op.Set, sc.ProjectID)
	var last *Error
	reauthed := false
	for attempt := 1; ; attempt++ {
		if err := c.wait(ctx, bucket); err != nil {
			if last != nil {
				return last
			}
			return sc.fail(op, u.EscapedPath(), 0, err)
		}
		retryAfter, reason, apiErr := c.once(ctx, op, sc, u, decode)
		if apiErr == nil {
			return nil
		}
		last = apiErr
		if reason == "token_rejected" {
			if reauthed {
				return apiErr
			}
			reauthed = true
			c.obs.ObserveRetry(op.Name, reason)
			attempt-- // not a failure of Atlas's: it does not count against the attempts
			continue
		}
		if reason == "rate_limited" {
			// Atlas's bucket for this endpoint set is empty: hold back every call that would
			// draw from it, not just this one.
			bucket.pause(ctx, c.now().Add(max(retryAfter, c.retry.BaseDelay)))
		}
		if reason == "" || attempt >= c.retry.MaxAttempts || ctx.Err() != nil {
			return apiErr
		}
		d := c.retry.BaseDelay << (attempt - 1)
		if d > c.retry.MaxDelay || d <= 0 {
			d = c.retry.MaxDelay
		}
		d = c.jitter(d)
		if retryAfter > d {
			d = retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(d).After(dl) {
			// Waiting would outlive the caller: give up now with what Atlas said.
			return apiErr
		}
		c.obs.ObserveRetry(op.Name, reason)
		if err := c.sleep(ctx, d); err != nil {
			return apiErr
		}
	}
}

// once sends one request and passes a successful answer to decode. On failure it returns the
// error with the retry reason ("" when the error must not be retried) and any Retry-After delay.
func (c *Client) once(ctx context.Context, op operation, sc scope, u *url.URL, decode func([]byte) error) (time.Duration, string, *Error) {
	fail := func(status int, err error) *Error { return sc.fail(op, u.EscapedPath(), status, err) }
	rctx, cancel := context.WithTimeout(withOperation(ctx, op.Name), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", fail(0, err)
	}
	req.Header.Set("Accept", op.accept())
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.http.Do(req)
	if err != nil {
		err = redactURLError(err)
		switch {
		case ctx.Err() != nil:
			return 0, "", fail(0, ctx.Err())
		case errors.Is(err, ErrToken):
			return 0, "", fail(0, err)
		case errors.Is(err, context.DeadlineExceeded):
			return 0, "timeout", fail(0, fmt.Errorf("request timed out after %s", c.timeout))
		case isTLSConfigError(err):
			// A certificate Atlas's host does not prove will not prove itself on a retry.
			return 0, "", fail(0, err)
		}
		return 0, "network", fail(0, err)
	}
	defer resp.Body.Close()
	// The body's reservation is held until it is decoded, since both copies live until then.
	body, release, readErr := c.bodies.read(rctx, resp.Body, resp.ContentLength)
	defer release()
	if errors.Is(readErr, errBodyTooBig) {
		return 0, "", fail(resp.StatusCode, fmt.Errorf("response body exceeds %d bytes", c.maxBody))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if readErr != nil {
			if ctx.Err() != nil {
				return 0, "", fail(0, ctx.Err())
			}
			// A body cut off mid-stream is a network fault worth another try.
			return 0, "network", fail(resp.StatusCode, fmt.Errorf("reading response: %v", redactURLError(readErr)))
		}
		if err := decode(body); err != nil {
			if errors.Is(err, errTooManyItems) {
				return 0, "", fail(resp.StatusCode, fmt.Errorf("more than %d items in one listing; stopped reading it", c.maxItems))
			}
			return 0, "", fail(resp.StatusCode, fmt.Errorf("decoding response: %v", err))
		}
		return 0, "", nil
	}
	e := fail(resp.StatusCode, nil)
	decodeErrorBody(e, body)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.auth.reauthenticate():
		// The token was revoked, or expired early by Atlas's clock: one more try with a new one.
		return 0, "token_rejected", e
	case resp.StatusCode == http.StatusTooManyRequests:
		return retryAfter(resp.Header, c.now()), "rate_limited", e
	case resp.StatusCode >= 500:
		return retryAfter(resp.Header, c.now()), "server_error", e
	}
	return 0, "", e
}

func isTLSConfigError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &rh)
}

// decodeErrorBody fills e from an Atlas ApiError body; any other body leaves e as it is.
func decodeErrorBody(e *Error, body []byte) {
	var we wireError
	if json.Unmarshal(body, &we) != nil || we.ErrorCode == "" {
		return
	}
	e.ErrorCode, e.Detail, e.Reason = truncate(we.ErrorCode, 100), we.Detail, we.Reason
	for _, p := range we.Parameters {
		e.Parameters = append(e.Parameters, strings.Trim(string(p), `"`))
	}
}

// redactURLError drops the URL from a *url.Error: the message stays useful and can never carry
// more than the path, which the caller names itself.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// MaxListItems is the most items one listing may hold, far above the snapshots Atlas keeps for
// one cluster: a listing that never ends stops there with an error instead of growing memory
// without bound.
const MaxListItems = 100000

// list reads every page of a list operation, following links[rel=next].
func list[T any](ctx context.Context, c *Client, op operation, sc scope, path string, extra url.Values) ([]T, error) {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	if op.Paged {
		q.Set("itemsPerPage", "500")
		// totalCount is an estimate we never use; asking for it costs Atlas a count.
		q.Set("includeCount", "false")
	}
	var out []T
	u := c.apiURL(path, q)
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		var p page[T]
		err := c.get(ctx, op, sc, u, func(body []byte) (err error) {
			p, err = decodePage[T](body, c.maxItems-len(out))
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, p.Results...)
		next := nextLink(p.Links)
		if next == "" || len(p.Results) == 0 {
			return out, nil
		}
		nu, perr := c.sameHost(next)
		if perr != nil || seen[nu.String()] || pages >= c.maxPages {
			return nil, sc.fail(op, apiPrefix+path, http.StatusOK, fmt.Errorf("bad next link %q", truncate(next, 200)))
		}
		seen[nu.String()] = true
		u = nu
	}
}

func nextLink(links []link) string {
	for _, l := range links {
		if l.Rel == "next" {
			return l.Href
		}
	}
	return ""
}

// sameHost re-bases a next link on the configured base URL, so a link can never send the
// credentials to another host, and refuses links outside the v2 API.
func (c *Client) sameHost(href string) (*url.URL, error) {
	n, err := url.Parse(href)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(n.Path, apiPrefix+"/") {
		return nil, fmt.Errorf("next link outside %s", apiPrefix)
	}
	u := *c.base
	u.Path, u.RawPath, u.RawQuery = n.Path, n.RawPath, n.RawQuery
	return &u, nil
}

func getOne[T any](ctx context.Context, c *Client, op operation, sc scope, path string) (T, error) {
	var v T
	err := c.get(ctx, op, sc, c.apiURL(path, nil), func(body []byte) error { return json.Unmarshal(body, &v) })
	return v, err
}
