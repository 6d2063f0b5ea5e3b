package atlas

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// This file holds the Atlas rules the exporter applies to what it reads, behind names that say
// what they mean, so that the collector maps results onto metrics without knowing Atlas.

// Outcome says what a call's result tells about Atlas itself.
type Outcome int

// The outcomes of a call.
const (
	// Answered: Atlas answered and accepted the credentials, even if it refused this call (a
	// 404, a 429).
	Answered Outcome = iota
	// CredentialsRefused: Atlas (or its token endpoint) refused the credentials.
	CredentialsRefused
	// Unreachable: no answer arrived, or Atlas failed (a 5xx) rather than answered.
	Unreachable
)

// OutcomeOf classifies the result of a call; a nil error is Answered.
func OutcomeOf(err error) Outcome {
	var ae *Error
	switch {
	case err == nil:
		return Answered
	case errors.As(err, &ae) && ae.Unauthorized():
		return CredentialsRefused
	case errors.As(err, &ae) && ae.StatusCode != 0 && ae.StatusCode < 500:
		return Answered
	}
	return Unreachable
}

// What a 404 with one of these errorCodes says does not exist: the cluster (or serverless
// instance, or Flex cluster) a call named, or its project. Every not-found rule reads this one
// table.
var notFoundCodes = map[string]notFound{
	"CLUSTER_NOT_FOUND": clusterNotFound, "SERVERLESS_INSTANCE_NOT_FOUND": clusterNotFound, "FLEX_CLUSTER_NOT_FOUND": clusterNotFound,
	"GROUP_NOT_FOUND": projectNotFound, "GROUP_NAME_NOT_FOUND": projectNotFound,
}

type notFound int

const (
	clusterNotFound notFound = iota + 1
	projectNotFound
)

// notFoundOf is what err says does not exist, or 0.
func notFoundOf(err error) notFound {
	var ae *Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 {
		return 0
	}
	return notFoundCodes[ae.ErrorCode]
}

// ClusterNotFound reports whether err is Atlas saying the cluster (or serverless instance, or
// Flex cluster) a call named does not exist.
func ClusterNotFound(err error) bool { return notFoundOf(err) == clusterNotFound }

// ProjectNotFound reports whether err is Atlas saying the project a call named does not exist
// (or is not visible to the credentials).
func ProjectNotFound(err error) bool {
	return errors.Is(err, ErrProjectNotVisible) || notFoundOf(err) == projectNotFound
}

// ErrProjectNotVisible is matched by the error of ProjectByID for an id the listing lacks.
var ErrProjectNotVisible = errors.New("project not visible to these credentials")

// ProjectByID finds the project with id among all, the projects the credentials can see: the API
// subset the exporter uses has no get-project-by-id, and the listing gives the name label too.
func ProjectByID(all []Project, id string) (Project, error) {
	for _, p := range all {
		if p.ID == id {
			return p, nil
		}
	}
	return Project{}, fmt.Errorf("project %s: %w (give them the Project Read Only role on it)", id, ErrProjectNotVisible)
}

// NewTarget is the target of a cluster of project projectID read as kind k: sharded only where k
// is Cloud Backup, the one kind whose sharded clusters are read through other endpoints.
func NewTarget(projectID, cluster string, k Kind, sharded bool) Target {
	return Target{ProjectID: projectID, Cluster: cluster, Kind: k, Sharded: sharded && k == KindCloud}
}

// HasSchedule reports whether clusters of kind k have a backup schedule to read: Cloud Backup
// only.
func (k Kind) HasSchedule() bool { return k == KindCloud }

// RestoreWindow is how far back a point-in-time restore reaches under the policy.
func (s Schedule) RestoreWindow() time.Duration { return days(s.RestoreWindowDays) }

// RestoreWindow is the point-in-time restore window the policy requires; 0 when none.
func (p CompliancePolicy) RestoreWindow() time.Duration { return days(p.RestoreWindowDays) }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// HasSizes reports whether Atlas gives the storage size of the kind's snapshots.
func (k Kind) HasSizes() bool {
	return k == KindCloud || k == KindServerless || k == KindLegacy
}

// ClockSkew is how far Atlas's clock and this host's may disagree before a time Atlas gives is
// taken as wrong rather than as skew. NTP keeps both within a fraction of a second; five minutes
// is the tolerance Kerberos has long allowed between hosts that must agree on time, which covers
// a host whose time sync stopped days ago, and is small next to the hours every alert allows a
// snapshot's age. Every comparison of a time Atlas gives with this host's clock uses it.
const ClockSkew = 5 * time.Minute

// Ahead reports whether Atlas's time t is later than now by more than ClockSkew: a time this
// host's clock has not reached, which no skew explains.
func Ahead(t, now time.Time) bool { return t.Sub(now) > ClockSkew }

// FromFuture reports whether Atlas dates the snapshot later than now can be (Ahead). Such a
// snapshot says nothing of the backups taken so far: taken as the newest, its negative age would
// hide every snapshot that stops coming.
func (s Snapshot) FromFuture(now time.Time) bool { return Ahead(s.CreatedAt, now) }

// AddSizes returns a+b for sizes in bytes (neither negative), saturating at math.MaxInt64: a sum
// no honest answer reaches then shows as the largest size rather than wrapping to a small or
// negative one.
func AddSizes(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// addSize adds a size Atlas gave to the snapshot's (legacy snapshots have one per part). A
// negative one is invalid, and so is the snapshot's size then.
func (s *Snapshot) addSize(n int64) {
	switch {
	case n < 0:
		if s.InvalidSize == 0 {
			s.InvalidSize = n
		}
		s.SizeBytes, s.HasSize = 0, false
	case s.InvalidSize == 0:
		s.SizeBytes, s.HasSize = AddSizes(s.SizeBytes, n), true
	}
}

// IsFallback reports whether Atlas took the snapshot by its fallback method, because the primary
// one failed.
func (s Snapshot) IsFallback() bool { return s.Type == "fallback" }

// IsScheduled reports whether Atlas took the snapshot by its backup policy, not on demand.
func (s Snapshot) IsScheduled() bool { return s.Type == "scheduled" }

// scheduleMaxAge bounds how long a Cloud Backup schedule is reused: a policy rarely changes, and
// a change shows sooner anyway, in the next planned snapshot or in snapshots it cannot explain
// (Explains).
const scheduleMaxAge = 24 * time.Hour

// pastScheduleRetry is how often a schedule whose next snapshot was due at least this long before
// it was read is read again: Atlas is behind the policy (the cluster's snapshots are failing or
// paused), and asking on every refresh would not make it catch up sooner.
const pastScheduleRetry = time.Hour

// ReadAgain reports whether the schedule, read at readAt, is read again at now rather than
// reused: when it is a day old, or when the next snapshot it announced is due. A next snapshot
// that was due long before the schedule was read means Atlas is behind the policy: read hourly.
// One due only shortly before is being taken, and Atlas moves it on when that ends: read at every
// refresh until it does. A zero readAt (never read) reads it.
func (s Schedule) ReadAgain(readAt, now time.Time) bool {
	age := now.Sub(readAt)
	if age >= scheduleMaxAge || readAt.IsZero() {
		return true
	}
	passed := !s.NextSnapshot.IsZero() && !now.Before(s.NextSnapshot)
	return passed && (readAt.Sub(s.NextSnapshot) < pastScheduleRetry || age >= pastScheduleRetry)
}

// Explains reports whether the policy accounts for the scheduled snapshots taken after since
// (when it was read): one of a frequency the policy has no item for, or kept for a time no item
// of its frequency gives (KeptAsPolicy), means the policy changed.
func (s Schedule) Explains(snaps []Snapshot, since time.Time) bool {
	for _, sn := range snaps {
		if !sn.IsScheduled() || sn.Frequency == "" || !sn.CreatedAt.After(since) {
			continue
		}
		found := false
		for _, it := range s.Items {
			if it.Frequency == sn.Frequency {
				found = true
				break
			}
		}
		if !found || !s.KeptAsPolicy(sn) {
			return false
		}
	}
	return true
}

// KeptAsPolicy reports whether the snapshot's own retention (ExpiresAt - CreatedAt) is one an
// item of its frequency gives: that item's Retention, plus the schedule's extra retention for the
// frequency, within ClockSkew, and for months and years within the three days by which
// calendar months differ from their average. A snapshot without both times, or of a frequency no
// item with a retention understood has, tells nothing and is taken as kept as the policy says.
func (s Schedule) KeptAsPolicy(sn Snapshot) bool {
	if sn.CreatedAt.IsZero() || sn.ExpiresAt.IsZero() {
		return true
	}
	kept, extra, judged := sn.ExpiresAt.Sub(sn.CreatedAt), s.ExtraFor(sn.Frequency), false
	for _, it := range s.Items {
		r := it.Retention()
		if it.Frequency != sn.Frequency || r == 0 {
			continue
		}
		judged = true
		slack := ClockSkew + it.unitSlack()
		if kept >= r-slack && kept <= r+extra+slack {
			return true
		}
	}
	return !judged
}

// calendarSlack is how far N calendar months (or years) may be from N of Retention's months: a
// little under three days (TestRetentionMonthsOnTheCalendar).
const calendarSlack = 3 * 24 * time.Hour

// unitSlack is how far the item's retention may be from Retention's: calendarSlack for
// months and years, 0 for days and weeks.
func (p PolicyItem) unitSlack() time.Duration {
	if p.RetentionUnit == "months" || p.RetentionUnit == "years" {
		return calendarSlack
	}
	return 0
}
