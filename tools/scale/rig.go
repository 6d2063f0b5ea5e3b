package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Params is one harness run.
type Params struct {
	Projects, Clusters, Snapshots int
	Latency                       time.Duration
	Concurrency                   int
	Digest                        bool                  // API key instead of a service account
	NonceUses                     int                   // digest: uses per nonce before stale=true (0: unlimited)
	NoncePolicy                   atlastest.NoncePolicy // digest: how the fake checks nonce counts
	PageCap                       int                   // items per page the fake returns at most (0: as asked)
	SnapshotMetrics               bool
	Schedules                     bool // read Cloud Backup schedules (backup_schedules)
	Scrapers                      int  // concurrent scrapes that trigger the refresh
	Shards                        int  // -rss: exporter processes sharing the estate
	Storage                       bool // -rss: give each a state file (--storage.path)
	// Jobs reads restore and export jobs every jobs_interval (default) and compliance policies
	// with discovery (restore_jobs, export_jobs, compliance_policy).
	Jobs bool
	// NonceExpires is how long a nonce lives after its first use under the lockout digest
	// policy (0: the module's 10s); Idle is the real time waited before the steady-state and
	// jobs-due refreshes, as between refreshes.
	NonceExpires, Idle time.Duration
	// Timeout is the client's per-request timeout, RefreshTimeout the collector's
	// (defaults 1m and 10m: a run measures speed, not timeouts, unless asked).
	Timeout, RefreshTimeout time.Duration
	// FinishAbandoned makes the fake go on serving a request its client gave up on until its
	// latency has passed, as Atlas does: its in-flight count includes abandoned requests.
	FinishAbandoned bool
	// Reloads is how many times the client is rebuilt from the running one (atlas.NewFrom with
	// another timeout, as a configuration reload does) during the first refresh.
	Reloads int
	// HeapProfile, when set, is where a run writes the live heap at its end.
	HeapProfile string
	// Pause answers the first snapshot listing of the first project's first Cloud Backup
	// cluster with 429 and Retry-After: 300.
	Pause bool
	// Orgs, above 1, deals the projects out to that many organisations, each read with a
	// credential set of its own (one discover_all_projects entry each), sharing Concurrency.
	Orgs int
}

// Report is what a run measured.
type Report struct {
	Params        Params
	Requests      map[string]int
	Total         int
	Minimum       int // discovery + one per snapshot page per target + auth round trips
	Nonces        int // digest: challenges the fake sent, one per unsigned or refused request
	Refused       int // digest: signed requests the fake refused
	Wall          time.Duration
	Ideal         time.Duration
	MaxInFlight   int
	Retries       map[string]int // by reason, in the first refresh
	Abandoned     int            // requests the client gave up on while the fake served them
	PausedSends   int            // Pause: requests to the paused bucket received after the 429's answer began
	HeapPeak      uint64
	RSSPeakKiB    int64
	Render        RenderReport
	Renders       [3]renderStats // during the first refresh, the steady state and once jobs are due
	SecondRefresh int            // requests made by a scrape within min_refresh_interval
	// Steady is what the refresh after min_refresh_interval sent (no discovery due, schedules
	// and jobs not due), against Floor: one request per snapshot page per target, what reading
	// the snapshots alone needs.
	Steady         int
	SteadyRequests map[string]int
	Floor          int
	// JobsDue is what the refresh once jobs_interval has passed sent, against JobPages: one
	// request per page of restore jobs (cloud and flex) and export jobs (cloud) per target.
	JobsDue         int
	JobsDueRequests map[string]int
	JobPages        int
	// Digest, per refresh (first, steady state, jobs due): challenges the fake sent, and the
	// lockout policy's failed logins; its lockouts in all.
	PhaseNonces, FailedLogins [3]int
	Lockouts                  int
	// PerOrg and MinimumPerOrg are, with several organisations (Orgs), each one's requests in
	// the first refresh and the minimum of its own estate.
	PerOrg, MinimumPerOrg map[string]int
}

// kinds used by the harness: dedicated clusters and Flex clusters, alternating.
var kinds = []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}

// keepAll is a retention under which the fake lists all n snapshots asked for of each cluster,
// whatever its kind (Atlas keeps a Flex cluster's last 8).
func keepAll(n int) time.Duration { return time.Duration(n+1) * 24 * time.Hour }

// clock is the collector's clock: real time plus an offset the harness advances to make the
// next refresh due without waiting for it.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// rig is the fake Atlas with p's estate, and the real clients and collector reading it.
type rig struct {
	clock  clock
	est    *atlastest.Estate
	fake   *atlastest.Server
	client *atlas.Client // the first credential set's, which reloadDuring rebuilds
	cc     atlas.Config
	fetch  *atlas.Fetcher
	others []*atlas.Client // the other sets' (Orgs)
	obs    *retryCount
	eng    *estate.Engine
	coll   *collector.Collector
	reg    *prometheus.Registry
	ctx    context.Context
	cancel context.CancelFunc
}

// newRig starts a rig; cc and s give the client's and collector's settings beyond the
// connection, credentials, projects and snapshot_metrics, which come from p.
func newRig(p Params, cc atlas.Config, s estate.Settings) (*rig, error) {
	r := &rig{est: atlastest.Generate(atlastest.Spec{Seed: 1, Projects: p.Projects, ClustersPerProject: p.Clusters, SnapshotsPerCluster: p.Snapshots, Retention: keepAll(p.Snapshots), Kinds: kinds, Orgs: p.Orgs})}
	var orgs []atlastest.Org
	for i := 1; i < p.Orgs; i++ {
		id := fmt.Sprintf("scale-%d", i)
		orgs = append(orgs, atlastest.Org{ID: atlastest.OrgID(i), Name: id, ClientID: id, ClientSecret: id + "-secret", PublicKey: id, PrivateKey: id + "-private"})
	}
	r.fake = atlastest.NewServer(atlastest.Options{Estate: r.est, Latency: p.Latency, PageCap: p.PageCap, NonceUses: p.NonceUses,
		NoncePolicy: p.NoncePolicy, Lockout: atlastest.LockoutLimits{Expires: p.NonceExpires},
		ClientID: "scale", ClientSecret: "scale-secret", PublicKey: "scale", PrivateKey: "scale-private",
		FinishAbandoned: p.FinishAbandoned, Orgs: orgs})
	r.obs = &retryCount{n: map[string]int{}}
	// One bound for every client a reload builds, as the exporter has, divided between the
	// credential sets.
	slots := atlas.NewSlots(p.Concurrency)
	cc.BaseURL, cc.MaxConcurrency, cc.Observer, cc.Slots = r.fake.URL, p.Concurrency, r.obs, slots
	s.Projects, s.SnapshotMetrics, s.BackupSchedules = []config.Project{{DiscoverAllProjects: true}}, p.SnapshotMetrics, p.Schedules
	s.RestoreJobs, s.ExportJobs, s.CompliancePolicy, s.JobsInterval = p.Jobs, p.Jobs, p.Jobs, config.DefaultJobsInterval
	sets := []string{""}
	if p.Orgs > 1 {
		s.Named, s.Projects, sets = true, nil, nil
		for i := range p.Orgs {
			sets = append(sets, fmt.Sprintf("org-%d", i))
			s.Projects = append(s.Projects, config.Project{DiscoverAllProjects: true, Credentials: sets[i]})
		}
	}
	slots.Divide(sets...)
	src := estate.Sources{}
	for i, set := range sets {
		c := cc
		c.Share = set
		id := "scale"
		if i > 0 {
			id = fmt.Sprintf("scale-%d", i)
		}
		if p.Digest {
			c.APIKey = &atlas.APIKey{PublicKey: id, PrivateKey: id + "-private"}
		} else {
			c.ServiceAccount = &atlas.ServiceAccount{ClientID: id, ClientSecret: id + "-secret"}
		}
		client, err := atlas.New(c)
		if err != nil {
			r.close()
			return nil, err
		}
		src[set] = atlas.NewFetcher(client)
		if i == 0 {
			r.client, r.cc, r.fetch = client, c, src[set].(*atlas.Fetcher)
		} else {
			r.others = append(r.others, client)
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.eng = estate.New(r.ctx, log.NewNopLogger(), src, s, r.clock.now)
	r.coll = collector.New(r.eng, r.clock.now)
	r.reg = prometheus.NewRegistry()
	r.reg.MustRegister(r.coll)
	return r, nil
}

func (r *rig) close() {
	if r.cancel != nil {
		r.cancel()
	}
	for _, c := range append(r.others, r.client) {
		if c != nil {
			c.Close()
		}
	}
	r.fake.Close()
}

// retryCount counts the client's retries by reason.
type retryCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *retryCount) ObserveRequest(atlas.RequestEvent) {}

func (r *retryCount) ObserveRetry(_, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[reason]++
}

func (r *retryCount) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n = map[string]int{}
	return n
}

// reloadDuring rebuilds the client p.Reloads times from the running one while the first
// refresh runs, as a configuration reload that changes a client setting does, each once the
// fake has received another share of the minimum requests; it returns when done or stopped.
func (r *rig) reloadDuring(p Params, minimum int, stop <-chan struct{}) error {
	for i := 1; i <= p.Reloads; i++ {
		for r.fake.Count("") < i*minimum/(p.Reloads+1) {
			select {
			case <-stop:
				return nil
			case <-time.After(time.Millisecond):
			}
		}
		cc := r.cc
		cc.Timeout += time.Duration(i) * time.Second
		client, _, err := atlas.NewFrom(r.client, cc)
		if err != nil {
			return err
		}
		r.fetch.Use(client)
		r.client = client
	}
	return nil
}

// pausedSends counts the requests to the paused bucket that the fake received after it began
// to answer the 429 of a Pause run.
func pausedSends(fake *atlastest.Server, projectID string) int {
	cloudBackups := map[string]bool{
		"listGroupClusterBackupSnapshots": true, "listGroupClusterBackupSnapshotShardedClusters": true,
		"getGroupClusterBackupSnapshot": true, "getGroupClusterBackupSnapshotShardedCluster": true,
		"getGroupClusterBackupSchedule": true, "listGroupClusterBackupRestoreJobs": true,
		"listGroupClusterBackupExports": true, "getGroupBackupCompliancePolicy": true,
	}
	prefix := "/api/atlas/v2/groups/" + projectID + "/"
	for i, q := range fake.Requests() {
		if q.Status != http.StatusTooManyRequests {
			continue
		}
		n := 0
		for _, later := range fake.ReceivedAfterAnswer(i) {
			if cloudBackups[later.Operation] && strings.HasPrefix(later.Path, prefix) {
				n++
			}
		}
		return n
	}
	return 0
}

// pauseTarget is the cluster a Pause run's 429 is for: the first project's first Cloud Backup
// cluster that is not sharded.
func pauseTarget(est *atlastest.Estate) (projectID, cluster string) {
	for _, c := range est.Projects[0].Clusters {
		if c.Kind == atlastest.Dedicated && !c.Sharded {
			return est.Projects[0].ID, c.Name
		}
	}
	return "", ""
}
