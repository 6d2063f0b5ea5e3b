package atlas

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
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
	// Credentials is the credential set of the client (Config.Share).
	Credentials string
	// Method and Path are the request's, the path escaped as sent, without the query: it names
	// projects and clusters, never a credential.
	Method, Path string
	// Attempt numbers the call's attempts from 1 (a digest challenge and its answer, or a token
	// request, are one attempt with the request they serve); RetryOf is why the attempt before
	// failed, one of RetryReasons, "" on the first.
	Attempt int
	RetryOf string
	Code    string // HTTP status code, or "error" when no response arrived
	// Error is the class of the failure when no response arrived: timeout, canceled, tls or
	// network.
	Error    string
	Duration time.Duration
	// RateLimitRemaining is Atlas's RateLimit-Remaining header; HasRateLimit is false when the
	// response had none (Atlas does not always send it).
	RateLimitRemaining float64
	HasRateLimit       bool
}

// RetryReasons are the reasons ObserveRetry reports; listing_shifted is a listing read once more
// because its pages moved while it was read.
var RetryReasons = []string{"rate_limited", "server_error", "network", "timeout", "token_rejected", RetryListingShifted}

// RetryListingShifted is the retry reason of a paged listing read again.
const RetryListingShifted = "listing_shifted"

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
	// Connection is how the client reaches BaseURL's host, API calls and the token endpoint
	// alike: TLS and proxy.
	Connection Connection
	// Transport is the underlying transport; default a clone of http.DefaultTransport with
	// Connection's settings. A Transport given is used as it is.
	Transport http.RoundTripper
	// Slots, when set, bounds the requests in flight together with the other clients built
	// with it (a process's clients across reloads and credential changes), and is sized by its
	// owner: MaxConcurrency then sizes only the connection pool and the body budget. Default:
	// the client's own, of MaxConcurrency.
	Slots *Slots
	// Share is the share of Slots the calls draw from: the client's credential set, among
	// those the owner named with Slots.Divide.
	Share string
}

// Connection is the network path to Atlas: the TLS settings and the proxy. Its zero value is
// Go's defaults: the system's roots, and the proxy of the environment (HTTPS_PROXY, NO_PROXY).
type Connection struct {
	TLS *tls.Config // nil: Go's defaults
	// Proxy picks the proxy of a request, as http.Transport.Proxy; nil: the environment's.
	Proxy func(*http.Request) (*url.URL, error)
	// ProxyConnectHeader is sent to the proxy with each CONNECT.
	ProxyConnectHeader http.Header
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
	wire     *onWire
	obs      Observer
	retry    RetryPolicy
	maxBody  int64
	ua       string
	timeout  time.Duration
	limits   *limiters
	slots    *Slots
	share    string
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

// ValidateBaseURL accepts https URLs, and http only for loopback hosts (tests, --demo). Its
// errors quote the scheme and host alone: a user, path or query may hold a secret.
func ValidateBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, and its cause a part of it (an escape in a password).
		return nil, errors.New("invalid base URL: it cannot be parsed as a URL")
	}
	shown := ""
	if u.Host != "" {
		shown = " " + strconv.Quote(u.Scheme+"://"+u.Host)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("invalid base URL%s: want scheme://host[:port] only, without user, path or query", shown)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("invalid base URL%s: plain http is only allowed for loopback hosts", shown)
		}
	default:
		return nil, fmt.Errorf("invalid base URL%s: scheme must be https", shown)
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
		if cfg.Connection.TLS != nil {
			t.TLSClientConfig = cfg.Connection.TLS.Clone()
		}
		if cfg.Connection.Proxy != nil {
			t.Proxy = cfg.Connection.Proxy
		}
		t.ProxyConnectHeader = cfg.Connection.ProxyConnectHeader
		cfg.Transport = t
	}
	c := &Client{
		base: base, obs: cfg.Observer, retry: cfg.Retry, maxBody: cfg.MaxBodyBytes, ua: cfg.UserAgent,
		timeout: cfg.Timeout, limits: newLimiters(cfg.RateLimitFactor), bodies: newBodyBudget(cfg.MaxBufferedBytes, cfg.MaxBodyBytes, cfg.MaxConcurrency),
		slots: cfg.Slots, share: cfg.Share, sleep: sleepCtx, jitter: fullJitter, now: time.Now, maxPages: 10000, maxItems: MaxListItems,
	}
	if c.slots == nil {
		c.slots = NewSlots(cfg.MaxConcurrency)
	}
	c.source = sourceOf(base, cfg)
	c.wire = &onWire{next: cfg.Transport, obs: cfg.Observer, credentials: cfg.Share}
	if cfg.ServiceAccount != nil {
		c.auth = newOAuth(base, *cfg.ServiceAccount, c.wire, cfg.UserAgent)
	} else {
		c.auth = newDigest(*cfg.APIKey, c.wire)
	}
	c.http = &http.Client{
		Transport: c.auth,
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

// Close releases idle connections and revokes nothing: tokens expire on their own within the hour.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// scope names what a call is about, for errors and rate limits.
type scope struct{ ProjectID, Cluster string }

// fail builds the error of a call of op on path.
func (sc scope) fail(op spec.Operation, path string, status int, err error) *Error {
	return &Error{Operation: op.Name, ProjectID: sc.ProjectID, Cluster: sc.Cluster, Path: path, StatusCode: status, Err: err}
}

type exchangeKey struct{}

// exchange is what the requests of one attempt of a call carry in their context for onWire:
// the operation, the attempt, and why the attempt before it failed (the retry reason).
type exchange struct {
	op      string
	attempt int
	retryOf string
}

func exchangeOf(ctx context.Context) exchange {
	if x, ok := ctx.Value(exchangeKey{}).(exchange); ok {
		return x
	}
	return exchange{op: "unknown"}
}

// withOperation names the operation of the requests under ctx, keeping their attempt.
func withOperation(ctx context.Context, op string) context.Context {
	x := exchangeOf(ctx)
	x.op = op
	return context.WithValue(ctx, exchangeKey{}, x)
}

// withAttempt numbers the attempt of the requests under ctx; retryOf is why the one before
// failed ("" for the first).
func withAttempt(ctx context.Context, attempt int, retryOf string) context.Context {
	x := exchangeOf(ctx)
	x.attempt, x.retryOf = attempt, retryOf
	return context.WithValue(ctx, exchangeKey{}, x)
}

func operationOf(ctx context.Context) string { return exchangeOf(ctx).op }

// apiURL is the URL of path (already escaped: names go through esc) with query q.
func (c *Client) apiURL(path string, q url.Values) *url.URL {
	// Keep the path as sent, and give Path its unescaped form.
	u := *c.base
	u.RawPath = spec.Prefix + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = q.Encode()
	return &u
}

func getOne[T any](ctx context.Context, c *Client, op spec.Operation, sc scope, path string) (T, error) {
	var v T
	err := c.get(ctx, op, sc, c.apiURL(path, nil), func(body []byte) error { return json.Unmarshal(body, &v) })
	return v, err
}
