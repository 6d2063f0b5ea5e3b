package atlas

import "time"

// Atlas's rules for telling a snapshot deleted, or its retention cut, before its time from one
// that expired on schedule. They compare two listings of a target's snapshots; the engine
// decides which listings may be compared.

// ExpiryIsRetention reports whether the expiry Atlas gives the kind's snapshots is when Atlas
// deletes them: Cloud Backup's expiresAt (replica sets and sharded clusters) and serverless's.
// Flex and tenant snapshots' expiration is when their download link stops working, and legacy
// backup's expires is cleared by doNotDelete: neither says when the snapshot goes.
func (k Kind) ExpiryIsRetention() bool { return k == KindCloud || k == KindServerless }

// DeletionLag is how far from its expiry Atlas may delete a snapshot on schedule: expired
// snapshots are removed by a background job, not at the second, and how often it runs is not
// documented. An hour covers a job that runs that often in either direction (one that removes
// what expires before its next run included); a snapshot deleted hours or days before its
// expiry stays unmistakable.
const DeletionLag = time.Hour

// ExpiryTolerance is how far a snapshot's removal or expiry may be from what Atlas said before
// it counts as early: Atlas's deletion job and the clock-skew tolerance.
const ExpiryTolerance = DeletionLag + ClockSkew

// GoneEarly reports whether a snapshot listed before, with expiry expires, and missing from a
// listing read at now was deleted before Atlas would have expired it.
func GoneEarly(expires, now time.Time) bool {
	return !expires.IsZero() && expires.Sub(now) > ExpiryTolerance
}

// Shortened reports whether a snapshot's expiry moved earlier, from was to now, by more than
// the tolerance.
func Shortened(was, now time.Time) bool {
	return !was.IsZero() && !now.IsZero() && was.Sub(now) > ExpiryTolerance
}

// Accounts reports whether the policy explains a snapshot of frequency freq (scheduled or not),
// taken at created, being deleted or expiring at by: an edit of the policy applies its
// retention to the snapshots taken before (updateSnapshots), and deletes those of the items it
// removes (deleteSnapshots); neither leaves a trace a GET shows but the policy itself. So the
// policy accounts for it when its retention for freq ends by then, or when it has no item of
// that frequency for a scheduled snapshot. An on-demand snapshot's retention is its own, which
// no policy sets: nothing accounts for it.
func (s Schedule) Accounts(freq string, scheduled bool, created, by time.Time) bool {
	if freq == "" || created.IsZero() {
		return false
	}
	has, slack := false, ExpiryTolerance
	for _, it := range s.Items {
		if it.Frequency == freq {
			has = true
			slack = max(slack, ExpiryTolerance+it.unitSlack())
		}
	}
	if !has {
		return scheduled
	}
	r := s.RetentionFor(freq)
	return r > 0 && !created.Add(r).After(by.Add(slack))
}
