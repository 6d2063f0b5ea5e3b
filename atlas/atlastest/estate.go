// Package atlastest is a fake MongoDB Atlas Administration API for tests, benchmarks and the
// exporter's --demo mode. It is a real net/http server that behaves as Atlas's OpenAPI
// description (the facts in atlas/testdata/operations.json) and documentation describe Atlas:
// versioned Accept headers, digest and OAuth2 auth, paging, Atlas error bodies, sunset
// endpoints, and injectable faults.
package atlastest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// ClusterKind is how the fake models a deployment.
type ClusterKind string

// The deployments the fake knows.
const (
	Dedicated  ClusterKind = "dedicated"  // Cloud Backup
	Flex       ClusterKind = "flex"       // created as Flex
	Tenant     ClusterKind = "tenant"     // former M2/M5, migrated to Flex: in /clusters and /flexClusters
	Serverless ClusterKind = "serverless" // serverless instance, its snapshots also readable as Flex
	Legacy     ClusterKind = "legacy"     // dedicated cluster with legacy backup (backupEnabled false: that flag means Cloud Backup)
	Free       ClusterKind = "m0"         // M0: no backups
	NoBackup   ClusterKind = "disabled"   // dedicated, backup disabled
)

// Snap is one snapshot in the fake's estate, stored once and rendered per kind.
type Snap struct {
	ID        string
	Status    string // queued, inProgress, completed, failed (rendered per kind)
	CreatedAt time.Time
	ExpiresAt time.Time
	Size      int64
	Type      string // scheduled, onDemand, fallback
	Frequency string
	Version   string
	// CopyRegions are the regions the snapshot was copied to (rendered for replica sets only).
	CopyRegions []string
}

// PolicyItem is one item of a Cloud Backup policy.
type PolicyItem struct {
	Frequency      string // hourly, daily, weekly, monthly, yearly, ondemand
	Interval       int
	RetentionUnit  string
	RetentionValue int
}

// ExtraRetention is an extra retention setting of a schedule, its frequency as Atlas writes it
// there (HOURLY, ..., ON_DEMAND).
type ExtraRetention struct {
	Frequency string
	Days      int
}

// DefaultPolicy is the backup policy Atlas gives a new dedicated cluster: every 6 hours kept
// 2 days, daily kept 7 days, weekly on Saturday kept 4 weeks, monthly on the last day kept 12
// months.
var DefaultPolicy = []PolicyItem{
	{"hourly", 6, "days", 2}, {"daily", 1, "days", 7}, {"weekly", 6, "weeks", 4}, {"monthly", 40, "months", 12},
}

// flexDaily is how Atlas keeps Flex (and the fake's tenant, serverless and legacy) snapshots.
var flexDaily = PolicyItem{"daily", 1, "days", 8}

// expiry is when Atlas deletes a snapshot of the item taken at created: its retention later, in
// calendar units.
func (it PolicyItem) expiry(created time.Time) time.Time {
	v := it.RetentionValue
	switch it.RetentionUnit {
	case "days":
		return created.AddDate(0, 0, v)
	case "weeks":
		return created.AddDate(0, 0, 7*v)
	case "months":
		return created.AddDate(0, v, 0)
	case "years":
		return created.AddDate(v, 0, 0)
	}
	return time.Time{}
}

// period is how long before t the item's previous snapshot was taken.
func (it PolicyItem) period(t time.Time) time.Duration {
	switch it.Frequency {
	case "hourly":
		return time.Duration(it.Interval) * time.Hour
	case "daily":
		return 24 * time.Hour
	case "weekly":
		return 7 * 24 * time.Hour
	case "monthly":
		return t.Sub(t.AddDate(0, -1, 0))
	}
	return t.Sub(t.AddDate(-1, 0, 0))
}

// keeping is the first of items (most frequent first) that still keeps a snapshot taken at
// created at now.
func keeping(items []PolicyItem, created, now time.Time) (PolicyItem, bool) {
	for _, it := range items {
		if it.expiry(created).After(now) {
			return it, true
		}
	}
	return PolicyItem{}, false
}

// Cluster is one deployment.
type Cluster struct {
	Name    string
	Kind    ClusterKind
	Sharded bool
	Paused  bool
	// MultiCloud clusters are left out of the all-projects cluster listing, as Atlas does.
	MultiCloud bool
	Snapshots  []Snap // newest first
	// Policy and NextSnapshot make up the Cloud Backup schedule served for the cluster.
	Policy       []PolicyItem
	NextSnapshot time.Time
	// ExtraRetention are the schedule's extra retention settings.
	ExtraRetention []ExtraRetention
	// Copies, RestoreWindowDays and AutoExport complete the schedule; PIT is the cluster's
	// continuous backup.
	Copies            []CopySetting
	RestoreWindowDays int
	AutoExport        bool
	PIT               bool
	RestoreJobs       []RestoreJob
	ExportJobs        []ExportJob
}

// Project is one Atlas project.
type Project struct {
	ID   string
	Name string
	// OrgID is the organisation the project belongs to; "" for the default one (orgs.go).
	OrgID    string
	Clusters []*Cluster
	// Compliance is the project's Backup Compliance Policy; nil for none.
	Compliance *CompliancePolicy
}

// Estate is everything the fake serves.
type Estate struct {
	Projects []*Project
}

// Spec describes a generated estate.
type Spec struct {
	Seed                uint64
	Projects            int
	ClustersPerProject  int
	SnapshotsPerCluster int
	// Kinds cycles over the clusters of each project; default: every kind.
	Kinds []ClusterKind
	Now   time.Time
	// Retention, when set, is how long the most frequent item of every cluster's policy (and
	// the daily snapshots of the kinds without one) keeps snapshots, in whole days: long
	// enough, every snapshot asked for is listed at that item's interval. For harnesses that
	// need SnapshotsPerCluster listed whatever the kind; by default the policies are Atlas's,
	// which keep fewer (Flex 8).
	Retention time.Duration
	// Orgs, when above 1, deals the projects out to that many organisations in turn: project p
	// belongs to OrgID(p % Orgs), OrgID(0) being the default one.
	Orgs int
}

// AllKinds is the default cycle of deployments in a generated estate.
var AllKinds = []ClusterKind{Dedicated, Flex, Tenant, Serverless, Legacy, Dedicated, Free, NoBackup}

// ProjectID returns the id the generator gives project p.
func ProjectID(p int) string { return fmt.Sprintf("5f%022x", p+1) }

// Generate builds a deterministic estate. In every project, cluster j follows profile j%5:
// healthy; newest snapshot failed; newest snapshot in progress; stale (newest completed more
// than three days old); healthy with an expired snapshot not yet deleted. Dedicated clusters
// alternate between replica set and sharded, sharded ones have a fallback snapshot, and all
// have Atlas's default backup policy; legacy ones a daily policy, for when they are read
// through Cloud Backup. Every other project has a Backup Compliance Policy; restore and export
// jobs and copies to other regions are described at addJobsAndPolicies.
func Generate(s Spec) *Estate {
	if len(s.Kinds) == 0 {
		s.Kinds = AllKinds
	}
	if s.Now.IsZero() {
		s.Now = time.Now().UTC().Truncate(time.Second)
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	e := &Estate{}
	var snapSeq, jobSeq uint64
	for p := 0; p < s.Projects; p++ {
		dedicated := 0
		proj := &Project{ID: ProjectID(p), Name: fmt.Sprintf("project-%03d", p+1)}
		if s.Orgs > 1 && p%s.Orgs != 0 {
			proj.OrgID = OrgID(p % s.Orgs)
		}
		for j := 0; j < s.ClustersPerProject; j++ {
			kind := s.Kinds[j%len(s.Kinds)]
			c := &Cluster{Name: fmt.Sprintf("%s-%02d", kind, j+1), Kind: kind}
			if kind == Dedicated {
				c.Sharded = dedicated%2 == 1
				dedicated++
			}
			if kind == Free || kind == NoBackup {
				proj.Clusters = append(proj.Clusters, c)
				continue
			}
			profile := j % 5
			newest := s.Now.Add(-time.Duration(rng.IntN(3600)+60) * time.Second)
			if profile == 3 {
				newest = newest.Add(-4 * 24 * time.Hour)
			}
			switch kind {
			case Dedicated:
				c.Policy = slices.Clone(DefaultPolicy)
			case Legacy:
				c.Policy = []PolicyItem{flexDaily}
			}
			// Flex, tenant and serverless snapshots are taken daily and kept 8 days, as Atlas
			// keeps Flex clusters' last 8 daily snapshots.
			items := c.Policy
			if items == nil {
				items = []PolicyItem{flexDaily}
			}
			if s.Retention > 0 {
				items = slices.Clone(items)
				items[0].RetentionUnit, items[0].RetentionValue = "days", int((s.Retention+24*time.Hour-1)/(24*time.Hour))
				if c.Policy != nil {
					c.Policy = items
				}
			}
			if c.Policy != nil {
				c.NextSnapshot = newest.Add(items[0].period(newest))
			}
			// Each snapshot is kept as long as the most frequent item whose retention covers its
			// age, and the next is that item's period older: the six-hourly ones of the last two
			// days, then dailies, weeklies and monthlies, as Atlas keeps them under the policy.
			// A snapshot past every retention is not listed (Atlas deleted it); the ids and
			// sizes are drawn for every snapshot asked for all the same, so that those listed
			// do not depend on how many are.
			created := newest
			for k := 0; k < s.SnapshotsPerCluster; k++ {
				snapSeq++
				size := int64(1<<30) + rng.Int64N(1<<28)
				it, ok := keeping(items, created, s.Now)
				if !ok {
					continue
				}
				sn := Snap{
					ID:        fmt.Sprintf("6a%06x%016x", p+1, snapSeq),
					Status:    "completed",
					CreatedAt: created,
					ExpiresAt: it.expiry(created),
					Size:      size,
					Type:      "scheduled",
					Frequency: it.Frequency,
					Version:   "8.0.4",
				}
				switch {
				case k == 0 && profile == 1:
					sn.Status = "failed"
				case k == 0 && profile == 2:
					sn.Status = "inProgress"
				case k == 1 && c.Sharded:
					sn.Type = "fallback"
				}
				c.Snapshots = append(c.Snapshots, sn)
				created = created.Add(-it.period(created))
			}
			if n := len(c.Snapshots); n > 0 && profile == 4 {
				c.Snapshots[n-1].ExpiresAt = s.Now.Add(-time.Hour) // not yet deleted
			}
			addJobsAndPolicies(c, p, s.Now, &jobSeq)
			proj.Clusters = append(proj.Clusters, c)
		}
		if p%2 == 0 {
			proj.Compliance = &CompliancePolicy{State: "ACTIVE", PIT: true, CopyProtection: true, RestoreWindowDays: 2,
				Items: []PolicyItem{{"daily", 1, "days", 7}}}
		}
		e.Projects = append(e.Projects, proj)
	}
	return e
}

// Project returns the project with id, or nil.
func (e *Estate) Project(id string) *Project {
	for _, p := range e.Projects {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// Cluster returns the named cluster, or nil.
func (p *Project) Cluster(name string) *Cluster {
	for _, c := range p.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// DeleteSnapshots deletes the cluster's snapshots with these ids, as `atlas backups snapshots
// delete` does, and returns how many it deleted.
func (c *Cluster) DeleteSnapshots(ids ...string) int {
	n := len(c.Snapshots)
	c.Snapshots = slices.DeleteFunc(c.Snapshots, func(sn Snap) bool { return slices.Contains(ids, sn.ID) })
	return n - len(c.Snapshots)
}

// SetExpiry gives the cluster's snapshot id the expiry at, as editing a snapshot's retention
// does (or a policy edit with updateSnapshots), and reports whether the snapshot exists.
func (c *Cluster) SetExpiry(id string, at time.Time) bool {
	for i := range c.Snapshots {
		if c.Snapshots[i].ID == id {
			c.Snapshots[i].ExpiresAt = at
			return true
		}
	}
	return false
}

// ExpireLag is how long after its expiry the fake's deletion job (Options.ExpireSnapshots)
// deletes a snapshot.
const ExpireLag = 2 * time.Hour

// Expire deletes the snapshots of every cluster whose expiry is not after now, as Atlas's
// deletion job does, and returns how many it deleted.
func (e *Estate) Expire(now time.Time) int {
	n := 0
	for _, p := range e.Projects {
		for _, c := range p.Clusters {
			before := len(c.Snapshots)
			c.Snapshots = slices.DeleteFunc(c.Snapshots, func(sn Snap) bool { return !sn.ExpiresAt.IsZero() && !sn.ExpiresAt.After(now) })
			n += before - len(c.Snapshots)
		}
	}
	return n
}
