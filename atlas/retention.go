package atlas

import (
	"math"
	"strings"
	"time"
)

// The lengths a retention in months or years stands for. Atlas counts them on the calendar (a
// month is 28 to 31 days), which no single duration is; the Gregorian averages (a 400-year cycle
// of 146,097 days over its 4,800 months) keep N calendar months within three days of N of them
// at any N, and make 12 months exactly one year, so that a schedule keeping monthly snapshots
// 12 months meets a compliance minimum of 1 year.
const (
	retentionDay   = 24 * time.Hour
	retentionWeek  = 7 * retentionDay
	retentionYear  = 31556952 * time.Second // 365.2425 days
	retentionMonth = retentionYear / 12     // 30.436875 days
)

// Retention is how long Atlas keeps the item's snapshots: retentionValue units of
// retentionUnit (days, weeks, months, years; months and years at their Gregorian average
// length). It is 0 when the unit is not one Atlas documents or the value is not positive, and
// saturates at the longest time.Duration for a value past it (about 292 years). Every
// comparison of retentions (a schedule's, a compliance policy's minimums, a snapshot's own)
// goes through it, so that they agree.
func (p PolicyItem) Retention() time.Duration {
	var unit time.Duration
	switch p.RetentionUnit {
	case "days":
		unit = retentionDay
	case "weeks":
		unit = retentionWeek
	case "months":
		unit = retentionMonth
	case "years":
		unit = retentionYear
	default:
		return 0
	}
	if p.RetentionValue <= 0 {
		return 0
	}
	if int64(p.RetentionValue) > math.MaxInt64/int64(unit) {
		return math.MaxInt64
	}
	return time.Duration(p.RetentionValue) * unit
}

// RetentionFor is how long the schedule keeps the snapshots of frequency (hourly, daily,
// weekly, monthly, yearly, ondemand): the longest retention of its items of that frequency, or
// 0 when it has none (or none whose retention is understood).
func (s Schedule) RetentionFor(frequency string) time.Duration {
	return longestRetention(s.Items, frequency)
}

// longestRetention is the longest retention of the items of frequency, 0 when none.
func longestRetention(items []PolicyItem, frequency string) time.Duration {
	var longest time.Duration
	for _, it := range items {
		if it.Frequency == frequency {
			longest = max(longest, it.Retention())
		}
	}
	return longest
}

// MinimumFor is the shortest time the compliance policy lets a cluster keep the snapshots of
// frequency (hourly, daily, weekly, monthly, yearly, ondemand), measured as Retention measures
// a schedule's; 0 when the policy sets none.
func (p CompliancePolicy) MinimumFor(frequency string) time.Duration {
	return longestRetention(p.Items, frequency)
}

// ExtraRetention is one of a schedule's extra retention settings: days Atlas keeps the
// snapshots of a frequency beyond their policy item's retention.
type ExtraRetention struct {
	Frequency string // hourly, daily, weekly, monthly, yearly, ondemand (as policy items name them)
	Days      int
}

// Retention is the extra time as a duration (Retention of Days days); 0 when not positive.
func (e ExtraRetention) Retention() time.Duration {
	return PolicyItem{RetentionUnit: "days", RetentionValue: e.Days}.Retention()
}

// ExtraFor is the extra retention the schedule gives the snapshots of frequency; 0 when none.
func (s Schedule) ExtraFor(frequency string) time.Duration {
	var extra time.Duration
	for _, e := range s.ExtraRetention {
		if e.Frequency == frequency {
			extra = max(extra, e.Retention())
		}
	}
	return extra
}

// Frequencies lists the frequencies of policy items in a stable order, most frequent first.
var Frequencies = []string{"hourly", "daily", "weekly", "monthly", "yearly", "ondemand"}

// policyFrequency is a frequency as policy items name it (hourly, ..., ondemand), from the upper
// case of copy and extra retention settings (HOURLY, ..., ON_DEMAND).
func policyFrequency(f string) string { return strings.ReplaceAll(strings.ToLower(f), "_", "") }
