package atlas

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

func utc(y int, m time.Month, d, h, min, s int) time.Time {
	return time.Date(y, m, d, h, min, s, 0, time.UTC)
}

func TestParseHeaderDate(t *testing.T) {
	for v, want := range map[string]time.Time{
		// As Atlas writes them: the day of the month in one digit where it has one.
		"Thu, 1 Jul 2027 00:00:00 GMT": utc(2027, 7, 1, 0, 0, 0),
		"Mon, 5 Aug 2024 00:00:00 GMT": utc(2024, 8, 5, 0, 0, 0),
		// RFC 9110's IMF-fixdate, and its obsolete forms.
		"Thu, 01 Jul 2027 00:00:00 GMT":     utc(2027, 7, 1, 0, 0, 0),
		"Thu, 22 Jan 2026 13:14:15 GMT":     utc(2026, 1, 22, 13, 14, 15),
		"Thursday, 01-Jul-27 00:00:00 GMT":  utc(2027, 7, 1, 0, 0, 0),
		"Thu Jul  1 00:00:00 2027":          utc(2027, 7, 1, 0, 0, 0),
		" Thu, 1 Jul 2027 00:00:00 GMT ":    utc(2027, 7, 1, 0, 0, 0),
		"@1688169599":                       utc(2023, 6, 30, 23, 59, 59),
		"@0":                                utc(1970, 1, 1, 0, 0, 0),
		"@253402300799":                     utc(9999, 12, 31, 23, 59, 59),
		"Fri, 1 Jul 2027 00:00:00 GMT":      utc(2027, 7, 1, 0, 0, 0), // a wrong weekday is not the date's problem
		"Thu, 1 Jul 2027 00:00:00 GMT\t":    utc(2027, 7, 1, 0, 0, 0),
		"Sat, 29 Feb 2020 00:00:00 GMT":     utc(2020, 2, 29, 0, 0, 0),
		"Wed, 31 Dec 1969 23:59:59 GMT":     utc(1969, 12, 31, 23, 59, 59),
		"Mon, 9 Sep 2024 09:09:09 GMT":      utc(2024, 9, 9, 9, 9, 9),
		"Wed, 13 Nov 2024 00:00:00 GMT":     utc(2024, 11, 13, 0, 0, 0),
		"Thu,  1 Jul 2027 00:00:00 GMT":     utc(2027, 7, 1, 0, 0, 0),
		"Thursday, 01-Jul-27 00:00:00 GMT ": utc(2027, 7, 1, 0, 0, 0),
	} {
		got, ok := parseHeaderDate(v)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseHeaderDate(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{
		"", "true", "@", "@-1", "@+5", "@ 5", "@1e9", "@253402300800", "@99999999999999999999", "2027-07-01", "2027-07-01T00:00:00Z",
		"Thu, 1 Jul 2027 00:00:00 UTC", "Thu, 32 Jul 2027 00:00:00 GMT", "Thu, 001 Jul 2027 00:00:00 GMT", "Thu, 1 Jul 27 00:00:00 GMT",
		"Fri, 29 Feb 2019 00:00:00 GMT",
	} {
		if got, ok := parseHeaderDate(v); ok {
			t.Errorf("parseHeaderDate(%q) = %v, want refused", v, got)
		}
	}
}

func TestParseNotice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   Notice
		ok     bool
	}{
		{"both, as Atlas writes them", http.Header{"Deprecation": {"Mon, 5 Aug 2024 00:00:00 GMT"}, "Sunset": {"Thu, 1 Jul 2027 00:00:00 GMT"}},
			Notice{Deprecation: utc(2024, 8, 5, 0, 0, 0), Sunset: utc(2027, 7, 1, 0, 0, 0)}, true},
		{"both, structured deprecation", http.Header{"Deprecation": {"@1688169599"}, "Sunset": {"Thu, 1 Jul 2027 00:00:00 GMT"}},
			Notice{Deprecation: utc(2023, 6, 30, 23, 59, 59), Sunset: utc(2027, 7, 1, 0, 0, 0)}, true},
		{"deprecated without a date", http.Header{"Deprecation": {"true"}}, Notice{}, true},
		{"a deprecation date not understood", http.Header{"Deprecation": {"soon"}, "Sunset": {"@1814400000"}}, Notice{Sunset: utc(2027, 7, 1, 0, 0, 0)}, true},
		{"a sunset alone", http.Header{"Sunset": {"Thu, 1 Jul 2027 00:00:00 GMT"}}, Notice{Sunset: utc(2027, 7, 1, 0, 0, 0)}, true},
		{"a sunset not understood", http.Header{"Sunset": {"next year"}}, Notice{}, false},
		{"the first of two values", http.Header{"Deprecation": {"@0", "@1"}}, Notice{Deprecation: utc(1970, 1, 1, 0, 0, 0)}, true},
		{"neither", http.Header{"Content-Type": {"application/json"}}, Notice{}, false},
	} {
		got, ok := parseNotice(tc.header)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func readSnapshots(t *testing.T, c *Client, targets ...Target) {
	t.Helper()
	for _, tg := range targets {
		if _, err := c.Snapshots(t.Context(), tg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoticesFromAnswers: what Atlas's answers say is kept per operation and version, from
// answers that carry the headers only, and survives a client rebuilt for the same source.
func TestNoticesFromAnswers(t *testing.T) {
	srv := newFake(t, atlastest.Options{Retirements: map[atlastest.OpVersion]atlastest.Retirement{
		{Operation: "listGroupClusterBackupSnapshots", Version: "2023-01-01"}:     {Deprecation: "@1688169599", Sunset: "Thu, 1 Jul 2027 00:00:00 GMT"},
		{Operation: "listGroupFlexClusterBackupSnapshots", Version: "2024-11-13"}: {Deprecation: "Mon, 5 Aug 2024 00:00:00 GMT"},
	}})
	c, _ := newTestClient(t, srv, withDigest)
	if got := c.Notices(); len(got) != 0 {
		t.Fatalf("notices before any call: %+v", got)
	}
	readSnapshots(t, c, Target{pid, "dedicated-01", KindCloud, false}, Target{pid, "dedicated-06", KindCloud, true}, Target{pid, "flex-02", KindFlex, false})
	want := []Notice{
		{Operation: "listGroupClusterBackupSnapshots", Version: "2023-01-01", Deprecation: utc(2023, 6, 30, 23, 59, 59), Sunset: utc(2027, 7, 1, 0, 0, 0)},
		{Operation: "listGroupFlexClusterBackupSnapshots", Version: "2024-11-13", Deprecation: utc(2024, 8, 5, 0, 0, 0)},
	}
	if got := c.Notices(); !reflect.DeepEqual(got, want) {
		t.Errorf("notices\n got %+v\nwant %+v", got, want)
	}
	if got := NewFetcher(c).Notices(); !reflect.DeepEqual(got, want) {
		t.Errorf("fetcher notices\n got %+v\nwant %+v", got, want)
	}
	again, reused, err := NewFrom(c, Config{BaseURL: srv.URL, APIKey: &APIKey{testPublic, testPrivate}, MaxConcurrency: 2})
	if err != nil || !reused {
		t.Fatal(err, reused)
	}
	if got := again.Notices(); !reflect.DeepEqual(got, want) {
		t.Errorf("notices after a reload\n got %+v\nwant %+v", got, want)
	}
}

// TestDefaultNotices: the fake's answers on the deprecated snapshot endpoints carry the headers
// the OpenAPI description implies, and the client reads them.
func TestDefaultNotices(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	readSnapshots(t, c, Target{pid, "tenant-03", KindTenant, false}, Target{pid, "legacy-05", KindLegacy, false}, Target{pid, "dedicated-01", KindCloud, false})
	want := []Notice{
		{Operation: "listGroupClusterBackupTenantSnapshots", Version: "2023-01-01", Deprecation: utc(2024, 11, 13, 0, 0, 0), Sunset: utc(2026, 1, 22, 0, 0, 0)},
		{Operation: "listGroupClusterSnapshots", Version: "2023-01-01", Deprecation: utc(2020, 3, 23, 0, 0, 0)},
	}
	if got := c.Notices(); !reflect.DeepEqual(got, want) {
		t.Errorf("notices\n got %+v\nwant %+v", got, want)
	}
}

func TestEndpointLifecycle(t *testing.T) {
	cloud := Target{pid, "c", KindCloud, false}
	sharded := Target{pid, "c", KindCloud, true}
	tenant := Target{pid, "c", KindTenant, false}
	built := utc(2026, 1, 22, 0, 0, 0)
	later, earlier := utc(2027, 7, 1, 0, 0, 0), utc(2026, 6, 1, 0, 0, 0)
	notice := func(op string, sunset time.Time) Notice {
		return Notice{Operation: op, Version: "2023-01-01", Deprecation: utc(2024, 8, 5, 0, 0, 0), Sunset: sunset}
	}
	for _, tc := range []struct {
		name   string
		target Target
		heard  []Notice
		want   Lifecycle
	}{
		{"nothing heard", tenant, nil, Lifecycle{Deprecated: true, Sunset: built, Replacement: KindFlex}},
		{"nothing heard, not deprecated", cloud, nil, Lifecycle{}},
		{"heard of the listing", cloud, []Notice{notice("listGroupClusterBackupSnapshots", later)}, Lifecycle{Deprecated: true, Sunset: later}},
		{"heard of the get-one call, without a sunset", cloud, []Notice{notice("getGroupClusterBackupSnapshot", time.Time{})}, Lifecycle{Deprecated: true}},
		{"heard of another shape", sharded, []Notice{notice("listGroupClusterBackupSnapshots", later)}, Lifecycle{}},
		{"heard of another version", cloud, []Notice{{Operation: "listGroupClusterBackupSnapshots", Version: "2099-01-01", Sunset: later}}, Lifecycle{}},
		{"a later sunset wins over the built-in one", tenant, []Notice{notice("listGroupClusterBackupTenantSnapshots", later)},
			Lifecycle{Deprecated: true, Sunset: later, Replacement: KindFlex}},
		{"no sunset heard keeps the built-in one", tenant, []Notice{notice("listGroupClusterBackupTenantSnapshots", time.Time{})},
			Lifecycle{Deprecated: true, Sunset: built, Replacement: KindFlex}},
		{"the earlier of the two operations'", tenant, []Notice{notice("getGroupClusterBackupTenantSnapshot", earlier), notice("listGroupClusterBackupTenantSnapshots", later)},
			Lifecycle{Deprecated: true, Sunset: earlier, Replacement: KindFlex}},
		{"an unknown kind", Target{pid, "c", "nosuch", false}, []Notice{notice("listGroupClusterBackupSnapshots", later)}, Lifecycle{}},
	} {
		if got := EndpointLifecycle(tc.target, tc.heard); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestDefaultRetirementsMatchSpec: the fake sends the headers on exactly the operations and
// versions it serves that the OpenAPI description marks deprecated or gives a sunset date, with
// that sunset date, in Atlas's form.
func TestDefaultRetirementsMatchSpec(t *testing.T) {
	facts := loadSpecFacts(t)
	type key = atlastest.OpVersion
	retiring := map[key]string{} // sunset date per deprecated or sunset operation version
	for _, op := range facts.Operations {
		for _, v := range op.Versions {
			if op.Deprecated || v.Sunset != "" {
				retiring[key{Operation: op.OperationID, Version: v.Version}] = v.Sunset
			}
		}
	}
	defaults := atlastest.DefaultRetirements()
	for k, r := range defaults {
		sunset, ok := retiring[k]
		if !ok {
			t.Errorf("%s %s: the fake retires it, the spec does not", k.Operation, k.Version)
			continue
		}
		dep, depOK := parseHeaderDate(r.Deprecation)
		if !depOK || r.Deprecation != dep.Format(atlasDate) {
			t.Errorf("%s %s: Deprecation %q is not a date in Atlas's form", k.Operation, k.Version, r.Deprecation)
		}
		got := ""
		if r.Sunset != "" {
			s, ok := parseHeaderDate(r.Sunset)
			if !ok || r.Sunset != s.Format(atlasDate) {
				t.Errorf("%s %s: Sunset %q is not a date in Atlas's form", k.Operation, k.Version, r.Sunset)
			}
			got = s.Format(time.DateOnly)
		}
		if got != sunset {
			t.Errorf("%s %s: the fake's sunset is %q, the spec's %q", k.Operation, k.Version, got, sunset)
		}
	}
	// Every one the client sends is among them.
	for _, op := range Operations() {
		k := key{Operation: op.Name, Version: op.Version}
		if _, ok := retiring[k]; ok {
			if _, sent := defaults[k]; !sent {
				t.Errorf("%s %s: the spec retires it, the fake sends no header", k.Operation, k.Version)
			}
		}
	}
	// Atlas's form has one-digit days, and the fake writes them so.
	if r := defaults[key{Operation: "listGroupClusters", Version: "2023-02-01"}]; r != (atlastest.Retirement{Deprecation: "Mon, 5 Aug 2024 00:00:00 GMT", Sunset: "Thu, 1 Jul 2027 00:00:00 GMT"}) {
		t.Errorf("listGroupClusters 2023-02-01: %+v", r)
	}
}
