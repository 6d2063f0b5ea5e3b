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
