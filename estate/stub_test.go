package estate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// stub is a Fetcher that answers from what a test set, at once, and records what it was asked.
type stub struct {
	mu       sync.Mutex
	projects []atlas.Project
	clusters map[string][]atlas.Cluster // per project id
	// Errors per call: a project id (listing, policy), a target (snapshots) or a cluster name
	// (its job listings).
	listErr, policyErr map[string]error
	readErr            map[atlas.Target]error
	jobsErr            map[string]error
	namesErr           error
	// hold, when set, keeps every job read waiting until it is closed (or the refresh ends).
	hold  chan struct{}
	calls []string
	// between, when set, runs after each delivery of snapshots.
	between func()
	// snapshots, when set, are what a target's read lists, in place of one completed snapshot
	// an hour old.
	snapshots map[string][]atlas.Snapshot // per cluster name
}

var _ Fetcher = (*stub)(nil)

func newStub() *stub {
	return &stub{clusters: map[string][]atlas.Cluster{}, listErr: map[string]error{}, policyErr: map[string]error{},
		readErr: map[atlas.Target]error{}, jobsErr: map[string]error{}}
}

func (s *stub) call(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
}

// took returns the calls since the last took, sorted (calls run concurrently).
func (s *stub) took() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = nil
	sort.Strings(out)
	return out
}

func (s *stub) Projects(context.Context) ([]atlas.Project, error) {
	s.call("projects")
	return s.projects, nil
}

func (s *stub) ProjectByName(_ context.Context, name string) (atlas.Project, error) {
	s.call("byName %s", name)
	for _, p := range s.projects {
		if p.Name == name {
			return p, nil
		}
	}
	return atlas.Project{}, &atlas.Error{StatusCode: 404, ErrorCode: "GROUP_NAME_NOT_FOUND"}
}

func (s *stub) Clusters(_ context.Context, id string) (atlas.ClusterList, error) {
	s.call("clusters %s", id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.listErr[id]; err != nil {
		return atlas.ClusterList{}, err
	}
	return atlas.ClusterList{Clusters: s.clusters[id]}, nil
}

func (s *stub) ClusterNames(context.Context) ([]atlas.ProjectClusters, error) {
	s.call("names")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []atlas.ProjectClusters
	for _, p := range s.projects {
		pc := atlas.ProjectClusters{Project: p}
		for _, cl := range s.clusters[p.ID] {
			pc.Clusters = append(pc.Clusters, cl.Name)
		}
		out = append(out, pc)
	}
	return out, s.namesErr
}

func (s *stub) CompliancePolicy(_ context.Context, id string) (*atlas.CompliancePolicy, error) {
	s.call("policy %s", id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return nil, s.policyErr[id]
}

func (s *stub) Schedule(_ context.Context, t atlas.Target) (atlas.Schedule, error) {
	s.call("schedule %s/%s", t.Cluster, t.Kind)
	return atlas.Schedule{NextSnapshot: stubNow.Add(7 * time.Hour)}, nil
}

func (s *stub) Fetch(ctx context.Context, reads []atlas.TargetRead, deliver func(atlas.Result), deliverJobs func(atlas.JobsResult), jobs *sync.WaitGroup) {
	for _, r := range reads {
		t := r.Target
		s.call("read %s/%s schedule=%t restores=%t exports=%t", t.Cluster, t.Kind, r.Schedule, r.RestoreJobs, r.ExportJobs)
		s.mu.Lock()
		res := atlas.Result{Read: r, Served: t, Err: s.readErr[t]}
		jobsErr, hold, between := s.jobsErr[t.Cluster], s.hold, s.between
		snaps, listed := s.snapshots[t.Cluster]
		s.mu.Unlock()
		if res.Err == nil {
			res.Snapshots = []atlas.Snapshot{{ID: "s-" + t.Cluster, Status: atlas.StatusCompleted, CreatedAt: stubNow.Add(-time.Hour)}}
			if listed {
				res.Snapshots = slices.Clone(snaps) // each read decodes its own
			}
			if r.Schedule && t.Kind.HasSchedule() {
				res.Schedule = &atlas.Schedule{NextSnapshot: stubNow.Add(7 * time.Hour)}
			}
			res.RestoreJobsFollow = r.RestoreJobs && t.Kind.HasRestoreJobs()
			res.ExportJobsFollow = r.ExportJobs && t.Kind.HasExportJobs()
		}
		deliver(res)
		if between != nil {
			between()
		}
		for _, follows := range []bool{res.RestoreJobsFollow, res.ExportJobsFollow} {
			if !follows {
				continue
			}
			jr := atlas.JobsResult{Read: r, Served: t}
			if res.RestoreJobsFollow {
				jr.RestoreJobs, res.RestoreJobsFollow = &atlas.Jobs[atlas.RestoreJob]{Err: jobsErr}, false
			} else {
				jr.ExportJobs = &atlas.Jobs[atlas.ExportJob]{Err: jobsErr}
			}
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				if hold != nil {
					select {
					case <-hold:
					case <-ctx.Done():
						return
					}
				}
				deliverJobs(jr)
			}()
		}
	}
}

func (s *stub) Organization(_ context.Context, id string) (atlas.Organization, error) {
	s.call("org %s", id)
	return atlas.Organization{ID: id, Name: "org " + id}, nil
}

func (s *stub) RequestsSent() uint64 { return 0 }

func (s *stub) Notices() []atlas.Notice { return nil }

// stubNow is when the tests' clocks start.
var stubNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// fixed is a clock the test moves.
type fixed struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixed) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixed) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is an engine over a stub, on a fixed clock.
type rig struct {
	e     *setEngine
	f     *stub
	clock *fixed
	logs  *testenv.Buffer
	// changes is signalled at each new version of e's view.
	changes chan struct{}
}

// The stub's projects.
var (
	pA = atlas.Project{ID: "5f00000000000000000000a1", Name: "alpha"}
	pB = atlas.Project{ID: "5f00000000000000000000b2", Name: "beta"}
)

// newRig is an engine reading s (all projects discovered, and every read on, by default) from a
// stub holding alpha (a Cloud Backup cluster and a Flex one) and beta (one Flex cluster).
func newRig(t *testing.T, s Settings) *rig {
	t.Helper()
	f := newStub()
	f.projects = []atlas.Project{pA, pB}
	f.clusters[pA.ID] = []atlas.Cluster{{ProjectID: pA.ID, Name: "db", Kind: atlas.KindCloud}, {ProjectID: pA.ID, Name: "fx", Kind: atlas.KindFlex}}
	f.clusters[pB.ID] = []atlas.Cluster{{ProjectID: pB.ID, Name: "fy", Kind: atlas.KindFlex}}
	if s.Projects == nil {
		s.Projects = []config.Project{{DiscoverAllProjects: true}}
	}
	if s.RefreshTimeout == 0 {
		s.RefreshTimeout = time.Minute
	}
	clock := &fixed{t: stubNow}
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan struct{}, 1)
	e := newSetEngine(ctx, log.NewLogfmtLogger(logs), "", f, s, clock.now, nil, changes)
	t.Cleanup(func() {
		cancel()
		e.WaitIdle(context.Background())
	})
	return &rig{e: e, f: f, clock: clock, logs: logs, changes: changes}
}

// allOn are settings with every read on, discovering hourly, refreshing every minute.
func allOn() Settings {
	return Settings{MinRefreshInterval: time.Minute, DiscoveryInterval: time.Hour, BackupSchedules: true, RestoreJobs: true, ExportJobs: true,
		CompliancePolicy: true, JobsInterval: 30 * time.Minute, RefreshTimeout: time.Minute}
}

// refresh runs a refresh to its end, a minute after the last.
func (r *rig) refresh(t *testing.T) {
	t.Helper()
	r.clock.advance(time.Minute)
	r.e.Refresh(t.Context())
	r.e.WaitIdle(t.Context())
}

// targets lists the view's targets as "cluster/kind ok".
func targets(v *View) string {
	var out []string
	for _, t := range v.Targets {
		out = append(out, fmt.Sprintf("%s/%s %t", t.Target.Cluster, t.Target.Kind, t.OK))
	}
	return strings.Join(out, ", ")
}
