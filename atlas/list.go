package atlas

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

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
