package atlas

import (
	"math"
	"testing"
	"time"
)

// TestPolicyItemRetention: each unit Atlas documents, at its length; anything else is not
// understood (0); a value past the longest duration saturates.
func TestPolicyItemRetention(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		unit  string
		value int
		want  time.Duration
	}{
		{"days", 1, day},
		{"days", 35, 35 * day},
		{"weeks", 4, 28 * day},
		{"months", 1, 2629746 * time.Second},
		{"months", 12, 31556952 * time.Second},
		{"years", 1, 31556952 * time.Second},
		{"years", 7, 7 * 31556952 * time.Second},
		{"years", 292, 292 * 31556952 * time.Second},
		{"years", 293, math.MaxInt64},
		{"years", math.MaxInt32, math.MaxInt64},
		{"days", 0, 0},
		{"days", -3, 0},
		{"DAYS", 3, 0},
		{"hours", 3, 0},
		{"", 3, 0},
	} {
		if got := (PolicyItem{RetentionUnit: tc.unit, RetentionValue: tc.value}).Retention(); got != tc.want {
			t.Errorf("%d %s: %v, want %v", tc.value, tc.unit, got, tc.want)
		}
	}
}

// TestRetentionMonthsOnTheCalendar: N months counted on the calendar from any day of 400 years
// stay within three days of N months as Retention has them, so a snapshot Atlas keeps N
// calendar months is told apart from one kept a week more or less.
func TestRetentionMonthsOnTheCalendar(t *testing.T) {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var worst time.Duration
	for d := 0; d < 146097; d += 7 {
		from := start.AddDate(0, 0, d)
		for _, n := range []int{1, 2, 3, 6, 11, 12, 13, 18, 24, 60, 84, 120} {
			want := PolicyItem{RetentionUnit: "months", RetentionValue: n}.Retention()
			off := from.AddDate(0, n, 0).Sub(from) - want
			worst = max(worst, off, -off)
		}
	}
	if worst > 3*24*time.Hour {
		t.Errorf("calendar months differ by up to %v from Retention", worst)
	}
}

// TestScheduleRetentionFor: the longest item of the frequency; 0 when the schedule has none, or
// none whose retention is understood.
func TestScheduleRetentionFor(t *testing.T) {
	const day = 24 * time.Hour
	s := Schedule{Items: []PolicyItem{
		{Frequency: "hourly", Interval: 6, RetentionUnit: "days", RetentionValue: 2},
		{Frequency: "daily", Interval: 1, RetentionUnit: "days", RetentionValue: 7},
		{Frequency: "daily", Interval: 1, RetentionUnit: "weeks", RetentionValue: 2},
		{Frequency: "daily", Interval: 1, RetentionUnit: "days", RetentionValue: 10},
		{Frequency: "monthly", Interval: 40, RetentionUnit: "fortnights", RetentionValue: 3},
		{Frequency: "yearly", Interval: 1, RetentionUnit: "years", RetentionValue: 1},
	}}
	for _, tc := range []struct {
		frequency string
		want      time.Duration
	}{
		{"hourly", 2 * day},
		{"daily", 14 * day},
		{"weekly", 0},
		{"monthly", 0},
		{"yearly", 31556952 * time.Second},
		{"ondemand", 0},
		{"", 0},
	} {
		if got := s.RetentionFor(tc.frequency); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.frequency, got, tc.want)
		}
	}
	if got := (Schedule{}).RetentionFor("daily"); got != 0 {
		t.Errorf("no items: %v", got)
	}
}

// TestKeptAsPolicy: a snapshot's own retention is the policy's when an item of its frequency
// gives it, within the clock-skew tolerance (and for months and years the calendar's three
// days), the schedule's extra retention for the frequency allowed on top.
func TestKeptAsPolicy(t *testing.T) {
	const day = 24 * time.Hour
	s := Schedule{
		Items: []PolicyItem{
			{"hourly", 6, "days", 2}, {"weekly", 6, "weeks", 4}, {"weekly", 1, "weeks", 8}, {"monthly", 40, "months", 12},
			{"yearly", 1, "bushels", 3},
		},
		ExtraRetention: []ExtraRetention{{"hourly", 1}},
	}
	created := testNow
	for _, tc := range []struct {
		name      string
		frequency string
		kept      time.Duration
		expires   bool
		want      bool
	}{
		{"hourly as the policy", "hourly", 2 * day, true, true},
		{"hourly, Atlas's clock a little off", "hourly", 2*day - ClockSkew, true, true},
		{"hourly, past the skew", "hourly", 2*day - ClockSkew - time.Second, true, false},
		{"hourly with its extra day", "hourly", 3*day + ClockSkew, true, true},
		{"hourly past its extra day", "hourly", 3*day + ClockSkew + time.Second, true, false},
		{"weekly of the first item", "weekly", 28 * day, true, true},
		{"weekly of the second item", "weekly", 56 * day, true, true},
		{"weekly of neither", "weekly", 42 * day, true, false},
		{"monthly, a calendar year", "monthly", 365 * day, true, true},
		{"monthly, a leap year", "monthly", 366 * day, true, true},
		{"monthly cut to one month", "monthly", 31 * day, true, false},
		{"yearly, a unit not understood", "yearly", day, true, true},
		{"daily, no item", "daily", day, true, true},
		{"no expiry", "hourly", 0, false, true},
	} {
		sn := Snapshot{Type: "scheduled", Frequency: tc.frequency, CreatedAt: created}
		if tc.expires {
			sn.ExpiresAt = created.Add(tc.kept)
		}
		if got := s.KeptAsPolicy(sn); got != tc.want {
			t.Errorf("%s: kept as the policy %t, want %t", tc.name, got, tc.want)
		}
		// Explains judges only snapshots taken after the schedule was read.
		if got := s.Explains([]Snapshot{sn}, created.Add(-time.Second)); got != (tc.want && tc.frequency != "daily") {
			t.Errorf("%s: explained %t", tc.name, got)
		}
		if !s.Explains([]Snapshot{sn}, created) {
			t.Errorf("%s: a snapshot taken before the schedule was read is judged", tc.name)
		}
	}
}

// TestCopyRetention: copies are kept as their copy item says, or as their snapshots are where
// the setting names frequencies only; nothing is known of lastNumberOfSnapshots copies.
func TestCopyRetention(t *testing.T) {
	const day = 24 * time.Hour
	s := Schedule{Items: []PolicyItem{{"hourly", 6, "days", 2}, {"daily", 1, "days", 7}, {"weekly", 6, "weeks", 4}}}
	items := CopyRegion{Region: "EU_WEST_1", Frequencies: []string{"daily", "ondemand", "weekly"},
		Kept: []PolicyItem{{"weekly", 0, "weeks", 2}, {"daily", 0, "days", 7}}}
	names := CopyRegion{Region: "US_WEST_2", Frequencies: []string{"daily", "hourly"}}
	last := CopyRegion{Region: "EU_CENTRAL_1"}
	for _, tc := range []struct {
		r    CopyRegion
		f    string
		want time.Duration
		ok   bool
	}{
		{items, "daily", 7 * day, true},
		{items, "weekly", 14 * day, true},
		{items, "ondemand", 0, false},
		{items, "hourly", 0, false},
		{names, "hourly", 2 * day, true},
		{names, "daily", 7 * day, true},
		{names, "weekly", 0, false},
		{last, "daily", 0, false},
	} {
		if d, ok := s.CopyRetention(tc.r, tc.f); d != tc.want || ok != tc.ok {
			t.Errorf("%s %s: %v, %t; want %v, %t", tc.r.Region, tc.f, d, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		r           CopyRegion
		same, known bool
	}{
		{items, false, true}, // weekly copies are kept 2 weeks, not 4
		{names, true, true},
		{last, true, false},
		{CopyRegion{Frequencies: []string{"yearly"}}, true, false},
	} {
		if same, known := s.CopiesKeepRetention(tc.r); same != tc.same || known != tc.known {
			t.Errorf("%s %v: same %t, known %t; want %t, %t", tc.r.Region, tc.r.Frequencies, same, known, tc.same, tc.known)
		}
	}
}
