package atlas

import "net/url"

// source is what makes two clients talk to the same Atlas as the same caller.
type source struct {
	base           string
	serviceAccount ServiceAccount
	apiKey         APIKey
}

func sourceOf(base *url.URL, cfg Config) source {
	s := source{base: base.String()}
	if cfg.ServiceAccount != nil {
		s.serviceAccount = *cfg.ServiceAccount
	}
	if cfg.APIKey != nil {
		s.apiKey = *cfg.APIKey
	}
	return s
}

// NewFrom returns a client for cfg. When cfg names the same host and credentials as prev, the
// new client keeps prev's token (or digest nonces), rate limiters, connections and request
// counts, so that a reload that changes only timeouts or concurrency costs Atlas nothing, and
// reused is true; prev must then not be closed while the new client is in use. The bound on
// requests in flight is shared through cfg.Slots alone, credentials changed or not: a process
// gives all its clients one Slots. The connection (cfg.Connection, cfg.Transport) is prev's:
// a caller whose connection settings changed passes no prev.
func NewFrom(prev *Client, cfg Config) (c *Client, reused bool, err error) {
	c, err = New(cfg)
	if err != nil || prev == nil || c.source != prev.source {
		return c, false, err
	}
	c.wire, c.auth, c.limits = prev.wire, prev.auth, prev.limits
	c.limits.setFactor(cfg.RateLimitFactor)
	c.http.Transport = prev.auth
	return c, true, nil
}
