package atlas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// MaxListItems is the most items one listing may hold, far above the snapshots Atlas keeps for
// one cluster: a listing that never ends stops there with an error instead of growing memory
// without bound.
const MaxListItems = 100000

// ErrListingShifted is matched (errors.Is) by the error of a listing whose pages moved while it
// was read, and again when it was read once more: items were added or deleted ahead of the page
// being read, so that others were skipped or read twice. Such a listing is never taken as the
// truth: an item it lacks may well exist.
var ErrListingShifted = errors.New("listing changed while it was read")

// errShifted is one read of a listing that shifted.
var errShifted = errors.New("listing shifted")

// keyed is an item of a listing, with the identity Atlas gives it: a second look at a page
// compares these, not the items, whose other fields (a snapshot's status) may change meanwhile.
type keyed interface{ key() string }

func (w wireGroup) key() string           { return w.ID }
func (w wireOrgGroup) key() string        { return w.GroupID }
func (w wireCluster) key() string         { return w.Name }
func (w wireFlexCluster) key() string     { return w.Name }
func (w wireServerless) key() string      { return w.Name }
func (w wireCloudSnapshot) key() string   { return w.ID }
func (w wireFlexSnapshot) key() string    { return w.ID }
func (w wireLegacySnapshot) key() string  { return w.ID }
func (w wireCloudRestoreJob) key() string { return w.ID }
func (w wireFlexRestoreJob) key() string  { return w.ID }
func (w wireExportJob) key() string       { return w.ID }

// list reads every page of a list operation, following links[rel=next]. A listing of one page
// is one answer: atomic, and read with one request. One of several pages is read by offset
// (Atlas's pageNum), so an item added or deleted ahead of the page being read moves the items
// after it across a page boundary, and one is skipped or read twice; readPages detects that. A
// listing that shifted is read once more, and one that shifts again fails with
// ErrListingShifted.
func list[T keyed](ctx context.Context, c *Client, op spec.Operation, sc scope, path string, extra url.Values) ([]T, error) {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	if op.Paged {
		q.Set("itemsPerPage", "500")
		// Counting costs Atlas work: the first page goes without, and most listings have one.
		q.Set("includeCount", "false")
	}
	u := c.apiURL(path, q)
	out, err := readPages[T](ctx, c, op, sc, u)
	if !errors.Is(err, errShifted) {
		return out, err
	}
	c.obs.ObserveRetry(op.Name, RetryListingShifted)
	out, err = readPages[T](ctx, c, op, sc, u)
	if errors.Is(err, errShifted) {
		return nil, sc.fail(op, spec.Prefix+path, http.StatusOK, fmt.Errorf("%w, twice in a row", ErrListingShifted))
	}
	return out, err
}

// readPages reads a listing once, from its first page first. Of a listing of several pages it
// asks for totalCount on the later pages and, at the end, looks at the first page again, and it
// answers errShifted when either says that the listing moved under it:
//
//   - an item added or deleted in the first page (where Atlas puts new snapshots: it lists them
//     newest first) before that second look changes the first page's items;
//   - one added or deleted further on, between two answers that carry a count, changes the count.
//
// A change only behind the page being read (the oldest snapshot expiring at the tail) skips
// nothing: the later pages show it. Between two counted answers it still reads as a shift, and
// costs a read more; between the first and second page it goes unnoticed, harmlessly.
//
// What this cannot see: a deletion and an addition between the same two answers, both past the
// first page, leave the count and the first page as they were; with the deletion ahead of the
// next page and the addition behind it, one item is skipped unseen. That takes an item added out
// of Atlas's newest-first order. Where Atlas omits totalCount, only the first page is checked.
func readPages[T keyed](ctx context.Context, c *Client, op spec.Operation, sc scope, first *url.URL) ([]T, error) {
	head, err := readPage[T](ctx, c, op, sc, first, c.maxItems)
	if err != nil {
		return nil, err
	}
	out := head.Results
	var count *int64 // totalCount of the answers that carry one
	shifted := func(p page[T]) bool {
		if p.TotalCount == nil {
			return false
		}
		if count == nil {
			count = p.TotalCount
		}
		return *p.TotalCount != *count
	}
	seen := map[string]bool{}
	pages := 1
	for p := head; ; pages++ {
		next := nextLink(p.Links)
		if next == "" || len(p.Results) == 0 {
			break
		}
		u, perr := c.sameHost(next)
		if perr != nil || seen[u.String()] || pages >= c.maxPages {
			return nil, sc.fail(op, first.EscapedPath(), http.StatusOK, fmt.Errorf("bad next link %q", truncate(next, 200)))
		}
		seen[u.String()] = true
		if p, err = readPage[T](ctx, c, op, sc, counted(u, op), c.maxItems-len(out)); err != nil {
			return nil, err
		}
		if shifted(p) {
			return nil, errShifted
		}
		out = append(out, p.Results...)
	}
	if pages == 1 {
		return out, nil
	}
	again, err := readPage[T](ctx, c, op, sc, counted(first, op), c.maxItems)
	if err != nil {
		return nil, err
	}
	if shifted(again) || !sameKeys(head.Results, again.Results) {
		return nil, errShifted
	}
	return out, nil
}

// readPage reads one page of at most limit results.
func readPage[T any](ctx context.Context, c *Client, op spec.Operation, sc scope, u *url.URL, limit int) (page[T], error) {
	var p page[T]
	err := c.get(ctx, op, sc, u, func(body []byte) (err error) {
		p, err = decodePage[T](body, limit)
		return err
	})
	return p, err
}

// counted is u asking for totalCount, where op takes includeCount.
func counted(u *url.URL, op spec.Operation) *url.URL {
	if !op.Paged {
		return u
	}
	q := u.Query()
	q.Set("includeCount", "true")
	cu := *u
	cu.RawQuery = q.Encode()
	return &cu
}

func sameKeys[T keyed](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].key() != b[i].key() {
			return false
		}
	}
	return true
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
	if !strings.HasPrefix(n.Path, spec.Prefix+"/") {
		return nil, fmt.Errorf("next link outside %s", spec.Prefix)
	}
	u := *c.base
	u.Path, u.RawPath, u.RawQuery = n.Path, n.RawPath, n.RawQuery
	return &u, nil
}
