package estate

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// View is what the engine knows at one version. It is immutable: every change the engine makes
// (a delivery, a discovery, the end of a refresh, a reload) makes a new version, and View
// builds the next one when it is asked for. What did not change between two versions is the
// same value in both: a *TargetView is replaced when its target changes and kept otherwise, so
// a renderer can keep what it made of one by pointer and redo only what changed.
type View struct {
	Version uint64
	Health  Health
	// SnapshotMetrics says whether per-snapshot series are to be shown (snapshot_metrics).
	SnapshotMetrics bool
	Projects        []*ProjectView // by project id
	// Targets are the targets read, one per served (project, cluster, kind): two configured
	// targets served by one replacement show it once, as the first of them (by project id,
	// cluster, kind as configured, unsharded first) has it.
	Targets []*TargetView
	// Endpoints are the configured targets whose snapshot endpoints are deprecated or answered
	// that they are gone, by project id, cluster, kind.
	Endpoints []Endpoint
	Missing   []MissingTarget // by project, cluster, kind
	// Notices are what Atlas's Deprecation and Sunset headers said, per operation and version.
	Notices []atlas.Notice
	// Credentials are the credential sets' health, in the sets' order, when the configuration
	// names sets (Settings.Named); empty otherwise.
	Credentials []CredentialsView
	// Overlaps are the projects two sets select, by project id and set: each read by the first.
	Overlaps []Overlap
}

// CredentialsView is how the last refreshes of one credential set went.
type CredentialsView struct {
	Name string // as metrics show it (config.SetName)
	// Up: Atlas answered and accepted the set's credentials on its last refresh. LastSuccess
	// is when such a refresh last finished; zero before the first.
	Up          bool
	LastSuccess time.Time
	Ready       bool // its first refresh has finished
	// LastRefreshDuration is how long its last refresh's snapshot phase took.
	LastRefreshDuration time.Duration
}

// Health is how the last refreshes went. With several credential sets: Up and Ready when every
// set is, the longest LastRefreshDuration, LastRequests added up, the oldest DiscoveredAt.
type Health struct {
	// Up: Atlas answered and accepted the credentials on the last refresh.
	Up bool
	// Ready: the first refresh has finished. LastRefreshDuration is that of the last one.
	Ready bool
	// Phases counts the refreshes whose snapshot phase has ended (what the scrapes waiting for
	// a refresh are released at), of every set, those a reload removed included: it only goes
	// up, and a renderer shows each at once.
	Phases              uint64
	LastRefreshDuration time.Duration
	// LastRequests are the HTTP requests of the last refresh of each discovery kind: "full"
	// rediscovered every project, "partial" some, "none" only read snapshots.
	LastRequests map[string]float64
	// DiscoveredAt is when the last full discovery started; zero before the first.
	DiscoveredAt time.Time
	Shard        Shard // Total is at least 1
}

// ProjectView is what is known of one project.
type ProjectView struct {
	Project atlas.Project
	// Org is the project's organisation (its name empty until read), and Credentials the set
	// that reads it, when the configuration names credential sets.
	Org          atlas.Organization
	Credentials  string
	DiscoveryOK  bool      // the last discovery of its clusters succeeded
	DiscoveredAt time.Time // of its clusters; zero before the first that succeeded
	// ServerlessGone is set when its serverless instance listing answered that it is gone.
	ServerlessGone *atlas.GoneError
	Compliance     ComplianceView
	// Clusters are the clusters the configuration selects in it, by name, as of the last
	// refresh that finished.
	Clusters []ClusterView
}

// ComplianceView is what is known of a project's Backup Compliance Policy.
type ComplianceView struct {
	Tried bool // read at least once
	OK    bool // the last read succeeded
	Read  bool // read successfully at least once: Policy is what that read said
	// Policy is nil when the project has none.
	Policy *atlas.CompliancePolicy
}

// ClusterView is a selected cluster as discovery found it.
type ClusterView struct {
	atlas.Cluster
	// BackupKind is the kind of its backups: the one discovery found (Cloud Backup, Flex,
	// serverless), or, for a cluster discovery found none for, the one its snapshots are read
	// from as the configuration names it (legacy backup, which Atlas's cluster listing does
	// not show; with several, the first in atlas.Kinds order). Only a read that listed
	// snapshots counts: Atlas answers an empty listing for a cluster whose backup is off. ""
	// when it has neither.
	BackupKind atlas.Kind
}

// TargetView is what is known of one target. It is never changed: a change makes a new one.
type TargetView struct {
	Project atlas.Project
	Target  atlas.Target // as served: the configured kind, or its replacement
	OK      bool         // the last read of its snapshots (and schedule) succeeded
	HasData bool         // read successfully at least once: what follows is from that read
	// FetchedAt is when the snapshots were read.
	FetchedAt time.Time
	// Snapshots are newest first; the first Future of them Atlas dates in the future (past
	// the clock-skew tolerance).
	Snapshots []atlas.Snapshot
	Future    int
	// Schedule is the Cloud Backup policy; nil for other kinds, or before it was read.
	Schedule *atlas.Schedule
	// PIT says continuous backup is on: the schedule's restore window applies.
	PIT      bool
	Restores Jobs[atlas.RestoreJob]
	Exports  Jobs[atlas.ExportJob]
	// Tamper is what comparing its listings found (tamper.go).
	Tamper TamperView
}

// Current is the target's snapshots up to now, newest first: those from the future left out.
func (t *TargetView) Current() []atlas.Snapshot { return t.Snapshots[t.Future:] }

// Jobs is what is known of a target's jobs of one listing.
type Jobs[J any] struct {
	Tried bool // asked for at least once, or refused in the project
	OK    bool // the last attempt succeeded
	Read  bool // read successfully at least once: List is what the last such read listed
	List  []J
}

// Endpoint is a configured target whose snapshot endpoints are deprecated or gone.
type Endpoint struct {
	Project atlas.Project
	Target  atlas.Target // as configured
	// Lifecycle is what is known of the endpoints: as built (atlas.LifecycleOf), and as
	// Atlas's headers said since (the View's Notices).
	Lifecycle atlas.Lifecycle
	// Gone are the endpoints that answered gone on the way to the one serving the target.
	Gone []*atlas.GoneError
}

// View returns the view of the current version, built now if no call has since the version
// changed: at most once per version, reusing what did not change.
func (e *setEngine) View() *View {
	e.mu.Lock()
	defer e.mu.Unlock()
	heard := e.fetcher.Notices()
	if v := e.view; v != nil && !slices.Equal(heard, v.Notices) {
		// What Atlas's headers say arrives with any answer, delivered or not.
		e.newVersion()
	}
	if v := e.view; v != nil && v.Version == e.version {
		return v
	}
	shard := e.settings.Shard
	if shard.Total < 1 {
		shard = Shard{Index: 0, Total: 1}
	}
	v := &View{
		Version: e.version, SnapshotMetrics: e.settings.SnapshotMetrics, Notices: heard,
		Health: Health{Up: e.up, Ready: e.ready, Phases: e.phases, LastRefreshDuration: e.lastDur, LastRequests: maps.Clone(e.lastRequests),
			DiscoveredAt: e.discoveredAt, Shard: shard},
	}
	if e.settings.Named {
		v.Credentials = []CredentialsView{{Name: config.SetName(e.name), Up: e.up, LastSuccess: e.lastSuccess, Ready: e.ready, LastRefreshDuration: e.lastDur}}
	}
	for _, id := range slices.Sorted(maps.Keys(e.projects)) {
		v.Projects = append(v.Projects, e.projectView(e.projects[id]))
	}
	keys := slices.SortedFunc(maps.Keys(e.targets), compareTargets)
	seen := make(map[atlas.Target]bool, len(keys))
	for _, t := range keys {
		ts := e.targets[t]
		if lc := atlas.EndpointLifecycle(t, heard); lc.Deprecated || len(ts.gone) > 0 {
			v.Endpoints = append(v.Endpoints, Endpoint{Project: ts.project, Target: t, Lifecycle: lc, Gone: ts.gone})
		}
		served := ts.served
		served.Sharded = false
		if seen[served] {
			continue
		}
		seen[served] = true
		v.Targets = append(v.Targets, ts.targetView())
	}
	v.Missing = slices.SortedFunc(maps.Keys(e.missing), compareMissing)
	e.view = v
	return v
}

// compareMissing orders missing targets as the View lists them: by project, cluster, kind.
func compareMissing(a, b MissingTarget) int {
	return cmp.Or(strings.Compare(a.Project, b.Project), strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Kind, b.Kind))
}

// compareTargets orders targets by project id, cluster, kind, unsharded first.
func compareTargets(a, b atlas.Target) int {
	return cmp.Or(strings.Compare(a.ProjectID, b.ProjectID), strings.Compare(a.Cluster, b.Cluster),
		strings.Compare(string(a.Kind), string(b.Kind)), cmp.Compare(boolInt(a.Sharded), boolInt(b.Sharded)))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// targetView is the target's view, built once after each change.
func (ts *targetState) targetView() *TargetView {
	if ts.view == nil {
		ts.view = &TargetView{
			Project: ts.project, Target: ts.served, OK: ts.ok, HasData: ts.hasData, FetchedAt: ts.fetchedAt,
			Snapshots: ts.snapshots, Future: ts.future, Schedule: ts.schedule, PIT: ts.pit,
			Restores: jobsView(ts.restores), Exports: jobsView(ts.exports), Tamper: ts.tamper.view,
		}
	}
	return ts.view
}

func jobsView[J any](s jobsState[J]) Jobs[J] {
	return Jobs[J]{Tried: s.tried, OK: s.ok, Read: s.read, List: s.jobs}
}

// projectView is the project's view, built once after each change to it or to its targets.
// e.mu must be held.
func (e *setEngine) projectView(ps *projectState) *ProjectView {
	if ps.view != nil {
		return ps.view
	}
	cs := ps.compliance
	pv := &ProjectView{
		Project: ps.project, DiscoveryOK: ps.ok, DiscoveredAt: ps.discoveredAt, ServerlessGone: ps.serverless,
		Compliance: ComplianceView{Tried: cs.tried, OK: cs.ok, Read: cs.read, Policy: cs.policy},
	}
	if e.settings.Named {
		pv.Org, pv.Credentials = e.organization(ps.project), config.SetName(e.name)
	}
	for _, name := range slices.Sorted(maps.Keys(ps.selected)) {
		cl := ps.selected[name]
		pv.Clusters = append(pv.Clusters, ClusterView{Cluster: cl, BackupKind: e.backupKind(ps.project.ID, cl)})
	}
	ps.view = pv
	return pv
}

// backupKind is ClusterView.BackupKind of cluster cl of project id; e.mu must be held.
func (e *setEngine) backupKind(id string, cl atlas.Cluster) atlas.Kind {
	if cl.Kind != "" {
		return cl.Kind
	}
	for _, k := range atlas.Kinds {
		if ts := e.targets[atlas.NewTarget(id, cl.Name, k, cl.Sharded)]; ts != nil && len(ts.snapshots) > 0 {
			return ts.served.Kind
		}
	}
	return ""
}
