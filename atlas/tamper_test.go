package atlas

import (
	"testing"
	"time"
)

// TestExpiryIsRetention: only Cloud Backup's and serverless's expiry is when Atlas deletes.
func TestExpiryIsRetention(t *testing.T) {
	want := map[Kind]bool{KindCloud: true, KindServerless: true}
	for _, k := range Kinds {
		if got := k.ExpiryIsRetention(); got != want[k] {
			t.Errorf("%s: %t, want %t", k, got, want[k])
		}
	}
}

// TestGoneEarlyAndShortened: the tolerance is Atlas's deletion job and the clock skew, and a
// missing expiry never counts.
func TestGoneEarlyAndShortened(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expires time.Time
		want    bool
	}{
		{time.Time{}, false},
		{now.Add(-time.Hour), false},
		{now.Add(ExpiryTolerance), false},
		{now.Add(ExpiryTolerance + time.Second), true},
		{now.Add(48 * time.Hour), true},
	} {
		if got := GoneEarly(tc.expires, now); got != tc.want {
			t.Errorf("GoneEarly(%v): %t, want %t", tc.expires, got, tc.want)
		}
		if got := Shortened(tc.expires, now); got != tc.want {
			t.Errorf("Shortened(%v, now): %t, want %t", tc.expires, got, tc.want)
		}
	}
	if Shortened(now.Add(48*time.Hour), time.Time{}) {
		t.Error("an expiry Atlas no longer gives counts as shortened")
	}
}

// TestPolicyAccounts: the policy explains a deletion or a new expiry its retention for the
// snapshot's frequency reaches, within the tolerance (and the calendar's for months), and the
// deletion of a scheduled snapshot whose frequency it no longer has.
func TestPolicyAccounts(t *testing.T) {
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	s := Schedule{Items: []PolicyItem{{Frequency: "hourly", Interval: 6, RetentionUnit: "days", RetentionValue: 2},
		{Frequency: "monthly", Interval: 40, RetentionUnit: "months", RetentionValue: 1}}}
	for _, tc := range []struct {
		name      string
		freq      string
		scheduled bool
		by        time.Time
		want      bool
	}{
		{"retention reached", "hourly", true, created.Add(2 * day), true},
		{"within the tolerance", "hourly", true, created.Add(2*day - ExpiryTolerance), true},
		{"before the retention", "hourly", true, created.Add(2*day - ExpiryTolerance - time.Second), false},
		{"a calendar month short of the average", "monthly", true, created.AddDate(0, 1, 0).Add(-2 * day), true},
		{"a frequency the policy dropped", "daily", true, created.Add(time.Hour), true},
		{"on demand", "ondemand", false, created.Add(time.Hour), false},
		{"no frequency", "", true, created.Add(30 * day), false},
	} {
		if got := s.Accounts(tc.freq, tc.scheduled, created, tc.by); got != tc.want {
			t.Errorf("%s: %t, want %t", tc.name, got, tc.want)
		}
	}
}
