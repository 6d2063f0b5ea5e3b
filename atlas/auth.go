package atlas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"
)

// authenticator is an http.RoundTripper that adds credentials and hears about rejections.
type authenticator interface {
	http.RoundTripper
	CloseIdleConnections()
	// reauthenticate is called when Atlas answers 401: it drops cached credentials and says
	// whether new ones could make a retry succeed.
	reauthenticate() bool
}

// oauthAuth gets service-account tokens with the client-credentials grant
// (golang.org/x/oauth2/clientcredentials) and reuses each until shortly before it expires. A
// token request runs under the context of the call that needs it, so a scrape's deadline or
// the exporter's shutdown cancels it, and so does the call's own timeout: a token request Atlas
// does not answer is that call timing out, as any request of it; concurrent calls share one
// request.
type oauthAuth struct {
	conf *clientcredentials.Config
	hc   *http.Client
	next http.RoundTripper
	sf   singleflight.Group
	now  func() time.Time

	mu      sync.Mutex
	tok     *oauth2.Token
	renewAt time.Time // zero: the token does not expire
	resetAt time.Time
}

// minTokenAge spaces the replacements of tokens Atlas refused: a 401 that a new token does not
// fix means the service account lacks a role, and Atlas allows only 100 live tokens per
// service account, so at most one is fetched per this period for that reason.
const minTokenAge = 5 * time.Minute

// tokenEarlyExpiry renews a token this long before Atlas says it expires, which also absorbs
// clock skew between Atlas and this host; a token that lives less than twice as long is
// renewed at half its life instead, or it would never be used twice.
const tokenEarlyExpiry = 5 * time.Minute

func newOAuth(base *url.URL, sa ServiceAccount, next http.RoundTripper, ua string) *oauthAuth {
	tokenURL := *base
	tokenURL.Path = "/api/oauth/token"
	return &oauthAuth{
		conf: &clientcredentials.Config{
			ClientID: sa.ClientID, ClientSecret: sa.ClientSecret, TokenURL: tokenURL.String(),
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		hc: &http.Client{
			// No timeout of its own: one racing the call's would make the same hang a token
			// error or a timeout by chance.
			Transport: uaTransport{ua: ua, next: tokenOp{next}},
			// A redirect would carry the client secret (Basic auth, re-sent by a 307) to
			// whatever host it names, as for the API calls.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		next: next,
		now:  time.Now,
	}
}

// token returns the cached token until its renewal time, fetching one if needed.
func (a *oauthAuth) token(ctx context.Context) (*oauth2.Token, error) {
	a.mu.Lock()
	tok, renewAt := a.tok, a.renewAt
	a.mu.Unlock()
	if tok != nil && (renewAt.IsZero() || a.now().Before(renewAt)) {
		return tok, nil
	}
	ch := a.sf.DoChan("token", func() (any, error) {
		t, err := a.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, a.hc))
		if err != nil {
			return nil, err
		}
		if !httpguts.ValidHeaderFieldValue(t.Type() + " " + t.AccessToken) {
			// Never cached: every request would fail with it until it expired. The next call
			// asks again.
			return nil, errUnsendableToken
		}
		a.mu.Lock()
		a.tok, a.renewAt = t, a.renewal(t)
		a.mu.Unlock()
		return t, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*oauth2.Token), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// renewal is when a token fetched now is to be replaced: tokenEarlyExpiry before it expires,
// or at half its life if that is sooner.
func (a *oauthAuth) renewal(t *oauth2.Token) time.Time {
	if t.Expiry.IsZero() {
		return time.Time{}
	}
	// The library set Expiry from expires_in by time.Now: measure the life on that clock.
	life := time.Until(t.Expiry)
	return a.now().Add(life - min(tokenEarlyExpiry, life/2))
}

func (a *oauthAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := a.token(r.Context())
	if err != nil {
		if r.Context().Err() != nil {
			return nil, r.Context().Err()
		}
		return nil, fmt.Errorf("%w: %s", ErrToken, describeTokenError(err))
	}
	r2 := r.Clone(r.Context())
	tok.SetAuthHeader(r2)
	return a.next.RoundTrip(r2)
}

func (a *oauthAuth) CloseIdleConnections() {
	if ci, ok := a.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// reauthenticate drops the cached token (Atlas revoked it, or its clock says it expired) so
// the next call gets a new one.
func (a *oauthAuth) reauthenticate() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.now().Sub(a.resetAt) < minTokenAge {
		return false
	}
	a.tok, a.resetAt = nil, a.now()
	return true
}

// errUnsendableToken is a token that cannot be sent in an Authorization header (a control
// character such as CR or LF in it). It names no part of the token.
var errUnsendableToken = errors.New("token endpoint answered a token that cannot be sent in an HTTP header")

// describeTokenError keeps the OAuth error code and HTTP status, never the response body,
// which could echo what was sent.
func describeTokenError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if re.ErrorCode != "" {
			return fmt.Sprintf("token endpoint answered HTTP %d %s", status, re.ErrorCode)
		}
		return fmt.Sprintf("token endpoint answered HTTP %d", status)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// oauthToken is the operation name of a service account's token requests, which are not calls
// of the API.
const oauthToken = "oauthToken"

// tokenOp labels token requests for the Observer.
type tokenOp struct{ next http.RoundTripper }

func (t tokenOp) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(r.WithContext(withOperation(r.Context(), oauthToken)))
}

type uaTransport struct {
	ua   string
	next http.RoundTripper
}

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(r2)
}
