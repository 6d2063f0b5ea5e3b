package atlas

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Notice is what Atlas's answers said of one operation at one resource version through their
// Deprecation (RFC 9745) and Sunset (RFC 8594) headers. A notice means the version is
// deprecated: an answer carried a Deprecation header, whatever its value, or a Sunset date.
type Notice struct {
	Operation, Version string
	// Deprecation is when Atlas deprecated the version (or will: RFC 9745 allows a date to
	// come); zero when the header gave no date that could be read, such as `true`, the form of
	// the drafts before RFC 9745.
	Deprecation time.Time
	// Sunset is when Atlas removes the version; zero when no Sunset date was given.
	Sunset time.Time
}

// DayOf is a Deprecation or Sunset date as the exporter writes it, in a label or a log line:
// YYYY-MM-DD (UTC), or "" for the zero time (no date given).
func DayOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// atlasDate is the HTTP date as Atlas writes it: IMF-fixdate with a day of one digit where it
// has one ("Thu, 1 Jul 2027 00:00:00 GMT"), which http.ParseTime refuses. Go reads a day of one
// or two digits with this layout, so it also reads the IMF-fixdate of RFC 9110.
const atlasDate = "Mon, 2 Jan 2006 15:04:05 GMT"

// maxHeaderDate is the last second of year 9999: a later @-date is refused rather than turned
// into a sunset_date no one can read.
const maxHeaderDate = 253402300799

// parseHeaderDate reads a Deprecation or Sunset date: an HTTP date as Atlas writes it, the
// other HTTP-date forms (RFC 850, asctime), or the structured form of RFC 9745
// ("@1688169599", seconds since the epoch).
func parseHeaderDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if s, ok := strings.CutPrefix(v, "@"); ok {
		// ParseUint takes no sign, and RFC 9745 writes none for the dates that matter here.
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n > maxHeaderDate {
			return time.Time{}, false
		}
		return time.Unix(int64(n), 0).UTC(), true
	}
	if t, err := time.Parse(atlasDate, v); err == nil {
		return t, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// parseNotice reads the Deprecation and Sunset headers of an answer; ok is false when they say
// nothing: neither is there, or only a Sunset whose date cannot be read. A Deprecation whose
// date cannot be read still says that the version is deprecated.
func parseNotice(h http.Header) (n Notice, ok bool) {
	dep, sun := h["Deprecation"], h["Sunset"]
	if len(sun) > 0 {
		n.Sunset, _ = parseHeaderDate(sun[0])
	}
	if len(dep) > 0 {
		n.Deprecation, _ = parseHeaderDate(dep[0])
		return n, true
	}
	return n, !n.Sunset.IsZero()
}

// versionOf is the resource version an Accept header of the client names, or "".
func versionOf(accept string) string {
	v, ok := strings.CutPrefix(accept, "application/vnd.atlas.")
	if !ok {
		return ""
	}
	v, ok = strings.CutSuffix(v, "+json")
	if !ok {
		return ""
	}
	return v
}

// heard keeps the latest notice per operation and version. Both come from the client's own
// requests, so it holds a few entries at most whatever Atlas sends.
type heard struct {
	mu sync.Mutex
	m  map[[2]string]Notice
}

// record keeps what the answer to req says of its operation and version.
func (h *heard) record(req *http.Request, resp *http.Response) {
	// Every answer passes here: most carry neither header, and cost two map lookups.
	if resp.Header["Deprecation"] == nil && resp.Header["Sunset"] == nil {
		return
	}
	version := versionOf(req.Header.Get("Accept"))
	if version == "" {
		return // the token endpoint has no resource versions
	}
	n, ok := parseNotice(resp.Header)
	if !ok {
		return
	}
	n.Operation, n.Version = operationOf(req.Context()), version
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[[2]string]Notice{}
	}
	h.m[[2]string{n.Operation, n.Version}] = n
}

func (h *heard) list() []Notice {
	h.mu.Lock()
	out := make([]Notice, 0, len(h.m))
	for _, n := range h.m {
		out = append(out, n)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operation != out[j].Operation {
			return out[i].Operation < out[j].Operation
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// Notices returns what Atlas's Deprecation and Sunset headers said of the operations the client
// called, the latest per operation and version, sorted by both.
func (c *Client) Notices() []Notice { return c.wire.heard.list() }

// Notices returns what the decorated client heard (Client.Notices), or nothing when it does not
// listen.
func (f *Fetcher) Notices() []Notice {
	if c, ok := f.client().(interface{ Notices() []Notice }); ok {
		return c.Notices()
	}
	return nil
}

// EndpointLifecycle is the lifecycle of the snapshot endpoints t is read through: what was
// known when the exporter was built (LifecycleOf), unless Atlas's headers said otherwise for the
// list or get operation of t at the version the client sends. A heard notice makes the
// endpoints deprecated, and its sunset replaces the built-in one (the earliest of the two
// operations', when both gave one).
func EndpointLifecycle(t Target, heard []Notice) Lifecycle {
	lc := LifecycleOf(t.Kind)
	if len(heard) == 0 {
		return lc
	}
	ops, err := opsFor(t)
	if err != nil {
		return lc
	}
	var sunset time.Time
	for _, n := range heard {
		if (n.Operation != ops.list.Name || n.Version != ops.list.Version) && (n.Operation != ops.get.Name || n.Version != ops.get.Version) {
			continue
		}
		lc.Deprecated = true
		if !n.Sunset.IsZero() && (sunset.IsZero() || n.Sunset.Before(sunset)) {
			sunset = n.Sunset
		}
	}
	if !sunset.IsZero() {
		lc.Sunset = sunset
	}
	return lc
}
