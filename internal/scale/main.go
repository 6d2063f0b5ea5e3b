// Command scale measures a full refresh of a generated Atlas estate through the real client,
// fetcher and collector, against the fake Atlas over loopback HTTP with per-request latency,
// and compares it with the ideal.
//
//	go run ./internal/scale -projects 200 -clusters 5 -snapshots 30 -latency 50ms -concurrency 16
package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
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
	// Pause answers the first snapshot listing of the first project's first Cloud Backup
	// cluster with 429 and Retry-After: 300.
	Pause bool
}

// Report is what a run measured.
type Report struct {
	Params         Params
	Requests       map[string]int
	Total          int
	Minimum        int // discovery + one per snapshot page per target + auth round trips
	Nonces         int // digest: challenges the fake sent, one per unsigned or refused request
	Refused        int // digest: signed requests the fake refused
	Wall           time.Duration
	Ideal          time.Duration
	MaxInFlight    int
	Retries        map[string]int // by reason, in the first refresh
	Abandoned      int            // requests the client gave up on while the fake served them
	PausedSends    int            // Pause: requests to the paused bucket received after the 429's answer began
	HeapPeak       uint64
	RSSPeakKiB     int64
	RenderCPU      time.Duration
	FirstRenderCPU time.Duration
	RenderBytes    int
	RenderLines    int
	SecondRefresh  int // requests made by a scrape within min_refresh_interval
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
}

// kinds used by the harness: dedicated clusters and Flex clusters, alternating.
var kinds = []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}

// clock is the collector's clock: real time plus an offset the harness advances to make the
// next refresh due without waiting for it.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// rig is the fake Atlas with p's estate, and the real client and collector reading it.
type rig struct {
	clock  clock
	est    *atlastest.Estate
	fake   *atlastest.Server
	client *atlas.Client
	cc     atlas.Config
	fetch  *atlas.Fetcher
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
	r := &rig{est: atlastest.Generate(atlastest.Spec{Seed: 1, Projects: p.Projects, ClustersPerProject: p.Clusters, SnapshotsPerCluster: p.Snapshots, Kinds: kinds})}
	r.fake = atlastest.NewServer(atlastest.Options{Estate: r.est, Latency: p.Latency, PageCap: p.PageCap, NonceUses: p.NonceUses,
		NoncePolicy: p.NoncePolicy, Lockout: atlastest.LockoutLimits{Expires: p.NonceExpires},
		ClientID: "scale", ClientSecret: "scale-secret", PublicKey: "scale", PrivateKey: "scale-private",
		FinishAbandoned: p.FinishAbandoned})
	r.obs = &retryCount{n: map[string]int{}}
	// One bound for every client a reload builds, as the exporter has.
	cc.BaseURL, cc.MaxConcurrency, cc.Observer, cc.Slots = r.fake.URL, p.Concurrency, r.obs, atlas.NewSlots(p.Concurrency)
	if p.Digest {
		cc.APIKey = &atlas.APIKey{PublicKey: "scale", PrivateKey: "scale-private"}
	} else {
		cc.ServiceAccount = &atlas.ServiceAccount{ClientID: "scale", ClientSecret: "scale-secret"}
	}
	client, err := atlas.New(cc)
	if err != nil {
		r.fake.Close()
		return nil, err
	}
	r.client, r.cc = client, cc
	s.Projects, s.SnapshotMetrics, s.BackupSchedules = []config.Project{{DiscoverAllProjects: true}}, p.SnapshotMetrics, p.Schedules
	s.RestoreJobs, s.ExportJobs, s.CompliancePolicy, s.JobsInterval = p.Jobs, p.Jobs, p.Jobs, config.DefaultJobsInterval
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.fetch = atlas.NewFetcher(client)
	r.eng = estate.New(r.ctx, log.NewNopLogger(), r.fetch, s, r.clock.now)
	r.coll = collector.New(r.eng, r.clock.now)
	r.reg = prometheus.NewRegistry()
	r.reg.MustRegister(r.coll)
	return r, nil
}

func (r *rig) close() {
	r.cancel()
	r.client.Close()
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

func run(p Params) (*Report, error) {
	rg, err := newRig(p, atlas.Config{Timeout: cmp.Or(p.Timeout, time.Minute)}, estate.Settings{MinRefreshInterval: config.DefaultMinRefreshInterval,
		RefreshTimeout: cmp.Or(p.RefreshTimeout, 10*time.Minute), DiscoveryInterval: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	defer rg.close()
	est, fake, eng, coll, reg, ctx := rg.est, rg.fake, rg.eng, rg.coll, rg.reg, rg.ctx
	pausedProject, pausedCluster := pauseTarget(est)
	if p.Pause && pausedCluster == "" {
		return nil, fmt.Errorf("-pause needs a Cloud Backup cluster in the first project")
	}
	if p.Pause {
		fake.SetFault("listGroupClusterBackupSnapshots", pausedCluster, &atlastest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "300", Times: 1})
	}
	minimum := minimumRequests(est, p)

	stopSampling := sampleMemory()
	start := time.Now()
	var wg sync.WaitGroup
	for range max(1, p.Scrapers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng.Refresh(ctx)
		}()
	}
	stop, reloaded := make(chan struct{}), make(chan error, 1)
	go func() { reloaded <- rg.reloadDuring(p, minimum, stop) }()
	wg.Wait()
	// The refresh's job reads go on after the scrapes are served: the refresh ends with them.
	eng.WaitIdle(ctx)
	wall := time.Since(start)
	close(stop)
	if err := <-reloaded; err != nil {
		return nil, err
	}

	r := &Report{Params: p, Requests: fake.Counts(), Total: fake.Count(""), Wall: wall, MaxInFlight: fake.MaxInFlight(), Nonces: fake.NoncesIssued(),
		Retries: rg.obs.take(), Abandoned: fake.Abandoned()}
	phase := func(i int) {
		r.PhaseNonces[i], r.FailedLogins[i] = fake.NoncesIssued(), fake.FailedLogins()
		r.Lockouts += fake.Lockouts()
	}
	phase(0)
	for _, q := range fake.Requests() {
		if q.Auth == "digest" && q.Status == http.StatusUnauthorized {
			r.Refused++
		}
	}
	if p.Pause {
		r.PausedSends = pausedSends(fake, pausedProject)
	}
	r.Minimum = minimum
	r.Ideal = time.Duration(math.Ceil(float64(r.Minimum)/float64(p.Concurrency))) * p.Latency

	before := fake.Count("")
	eng.Refresh(ctx)
	eng.WaitIdle(ctx)
	r.SecondRefresh = fake.Count("") - before

	// The steady state: the next refresh, once min_refresh_interval has passed.
	fake.Reset()
	time.Sleep(p.Idle)
	rg.clock.advance(config.DefaultMinRefreshInterval)
	eng.Refresh(ctx)
	eng.WaitIdle(ctx)
	r.Steady, r.SteadyRequests, r.Floor = fake.Count(""), fake.Counts(), floorRequests(est, p)
	phase(1)

	// The refresh once jobs_interval has passed since the first.
	fake.Reset()
	time.Sleep(p.Idle)
	rg.clock.advance(config.DefaultJobsInterval - config.DefaultMinRefreshInterval)
	eng.Refresh(ctx)
	eng.WaitIdle(ctx)
	r.JobsDue, r.JobsDueRequests, r.JobPages = fake.Count(""), fake.Counts(), jobPages(est, p)
	phase(2)

	// The first render after a refresh also encodes the new data; later ones reuse it.
	for i, cpu := range []*time.Duration{&r.FirstRenderCPU, &r.RenderCPU} {
		cpu0 := cpuTime()
		var cw countingWriter
		if err := collector.WriteText(&cw, reg, coll); err != nil {
			return nil, err
		}
		*cpu = cpuTime() - cpu0
		if i == 0 {
			r.RenderBytes, r.RenderLines = cw.n, cw.lines
		}
	}
	r.HeapPeak, r.RSSPeakKiB = stopSampling()
	return r, nil
}

// minimumRequests is the fewest requests a refresh can make: the token (or, for digest, one
// challenge), the pages of the project listing, three discovery listings per project, one request per
// snapshot page per target, and the backup schedule of each Cloud Backup target; with Jobs, the
// compliance policy of each project and the pages of jobs.
func minimumRequests(est *atlastest.Estate, p Params) int {
	n := 1 + pages(len(est.Projects), p) + 3*len(est.Projects) + jobPages(est, p)
	if p.Jobs {
		n += len(est.Projects)
	}
	for _, proj := range est.Projects {
		for _, c := range proj.Clusters {
			n += snapshotPages(c, p)
			if p.Schedules && c.Kind == atlastest.Dedicated {
				n++
			}
		}
	}
	return n
}

// floorRequests is what reading every target's snapshots costs: one request per page.
func floorRequests(est *atlastest.Estate, p Params) int {
	n := 0
	for _, proj := range est.Projects {
		for _, c := range proj.Clusters {
			n += snapshotPages(c, p)
		}
	}
	return n
}

func snapshotPages(c *atlastest.Cluster, p Params) int {
	if c.Sharded {
		return 1 // the sharded listing has no paging parameters
	}
	return pages(len(c.Snapshots), p)
}

// jobPages is what reading every target's jobs costs, with Jobs: a request per page of restore
// jobs of each Cloud Backup and Flex target, and of export jobs of each Cloud Backup target.
func jobPages(est *atlastest.Estate, p Params) int {
	n := 0
	for _, proj := range est.Projects {
		for _, c := range proj.Clusters {
			switch {
			case !p.Jobs:
			case c.Kind == atlastest.Dedicated:
				n += pages(len(c.RestoreJobs), p) + pages(len(c.ExportJobs), p)
			case c.Kind == atlastest.Flex:
				n += pages(len(c.RestoreJobs), p)
			}
		}
	}
	return n
}

// pages is how many requests a paged listing of n items takes: one per page (one when empty),
// and for a listing of several pages a second look at the first, which shows whether it moved
// while it was read.
func pages(n int, p Params) int {
	perPage := 500
	if p.PageCap > 0 && p.PageCap < perPage {
		perPage = p.PageCap
	}
	if n := int(math.Ceil(float64(n) / float64(perPage))); n > 1 {
		return n + 1
	}
	return 1
}

type countingWriter struct{ n, lines int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sampleMemory samples the heap every 10ms until the returned function is called, which
// returns the peak heap and the process's peak RSS.
func sampleMemory() func() (uint64, int64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, int64) {
		close(done)
		<-stopped
		return peak.Load(), rssPeakKiB()
	}
}

// rssPeakKiB is this process's peak RSS, 0 where /proc cannot tell.
func rssPeakKiB() int64 {
	_, hwm, _ := procStatus(os.Getpid())
	return hwm
}

// SoakReport is what a load run measured.
type SoakReport struct {
	Scrapes, Failed                   int
	MaxLatency                        time.Duration
	GoroutinesBefore, GoroutinesAfter int
	HeapPeak                          uint64
	RSSPeakKiB                        int64
	Refreshes                         int
	Requests                          int
}

// soak runs p.Scrapers scrapers against the real /metrics handler for d, with faults on a
// fifth of the clusters (500s, 429s with Retry-After, requests that never answer) and a short
// min_refresh_interval, so refreshes overlap the scrapes.
func soak(p Params, d time.Duration) (*SoakReport, error) {
	rg, err := newRig(p, atlas.Config{Timeout: time.Second,
		Retry: atlas.RetryPolicy{MaxAttempts: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond}},
		estate.Settings{MinRefreshInterval: 2 * time.Second, RefreshTimeout: 20 * time.Second})
	if err != nil {
		return nil, err
	}
	defer rg.close()
	fake, client, eng, coll, reg, ctx := rg.fake, rg.client, rg.eng, rg.coll, rg.reg, rg.ctx
	for i, proj := range rg.est.Projects {
		// Faults name a cluster: a name no other project has keeps each to its one cluster.
		c := fmt.Sprintf("%s-p%d", proj.Clusters[0].Name, i)
		proj.Clusters[0].Name = c
		switch i % 15 {
		case 0:
			fake.SetFault("listGroupClusterBackupSnapshots", c, &atlastest.Fault{Status: 500})
		case 5:
			fake.SetFault("listGroupClusterBackupSnapshots", c, &atlastest.Fault{Status: 429, RetryAfter: "1"})
		case 10:
			fake.SetFault("listGroupClusterBackupSnapshots", c, &atlastest.Fault{Hang: true})
		}
	}
	web := httptest.NewServer(handler.Metrics(reg, eng, coll, log.NewNopLogger(), 500*time.Millisecond, 25*time.Second))
	defer web.Close()
	eng.Refresh(ctx) // the first, full refresh
	eng.WaitIdle(ctx)

	r := &SoakReport{GoroutinesBefore: runtime.NumGoroutine()}
	stopSampling := sampleMemory()
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range p.Scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second}
			defer hc.CloseIdleConnections()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", web.URL+"/metrics", nil)
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "5")
				// As Prometheus asks; set by hand, the body stays compressed, so this process
				// does not spend the scraper's CPU on decompressing it.
				req.Header.Set("Accept-Encoding", "gzip")
				start := time.Now()
				resp, err := hc.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat := time.Since(start)
				mu.Lock()
				r.Scrapes++
				if !ok {
					r.Failed++
				}
				r.MaxLatency = max(r.MaxLatency, lat)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.HeapPeak, r.RSSPeakKiB = stopSampling()
	r.Requests = fake.Count("")
	r.Refreshes = fake.Count("listGroups")
	// Let the last refresh end (its hung requests time out), then count what is left running.
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	eng.WaitIdle(waitCtx)
	web.CloseClientConnections()
	client.Close()
	time.Sleep(100 * time.Millisecond)
	r.GoroutinesAfter = runtime.NumGoroutine()
	return r, nil
}

func (r *SoakReport) print(w io.Writer, p Params, d time.Duration) {
	fmt.Fprintf(w, "soak: %d scrapers for %s against %d clusters (%d snapshots), faults on 1 cluster in 5 of every 15 projects\n",
		p.Scrapers, d, p.Projects*p.Clusters, p.Projects*p.Clusters*p.Snapshots)
	fmt.Fprintf(w, "scrapes: %d, failed: %d, slowest: %s (scrape timeout 5s); refreshes: %d; API requests: %d\n",
		r.Scrapes, r.Failed, r.MaxLatency.Round(time.Millisecond), r.Refreshes, r.Requests)
	fmt.Fprintf(w, "goroutines: %d before, %d after; peak heap: %.1f MiB; peak RSS: %.1f MiB\n",
		r.GoroutinesBefore, r.GoroutinesAfter, float64(r.HeapPeak)/(1<<20), float64(r.RSSPeakKiB)/1024)
}

func (r *Report) print(w io.Writer) {
	p := r.Params
	auth := "service account"
	if p.Digest {
		auth = "digest, nonce policy " + policyNames[p.NoncePolicy]
	}
	fmt.Fprintf(w, "estate: %d projects x %d clusters x %d snapshots = %d clusters, %d snapshots; latency %s; concurrency %d; auth %s; snapshot_metrics %v; backup_schedules %v; jobs %v; %d scrapers\n",
		p.Projects, p.Clusters, p.Snapshots, p.Projects*p.Clusters, p.Projects*p.Clusters*p.Snapshots, p.Latency, p.Concurrency, auth, p.SnapshotMetrics, p.Schedules, p.Jobs, max(1, p.Scrapers))
	fmt.Fprintf(w, "refresh wall time: %s (ideal %s, ratio %.3f)\n", r.Wall.Round(time.Millisecond), r.Ideal, float64(r.Wall)/float64(r.Ideal))
	fmt.Fprintf(w, "requests: %d (minimum %d, ratio %.3f); fake's max in flight: %d (max_concurrency %d); abandoned while served: %d\n",
		r.Total, r.Minimum, float64(r.Total)/float64(r.Minimum), r.MaxInFlight, p.Concurrency, r.Abandoned)
	fmt.Fprintf(w, "retries by reason: %v; client timeout %s; reloads during the refresh: %d\n", r.Retries, cmp.Or(p.Timeout, time.Minute), p.Reloads)
	if p.Pause {
		fmt.Fprintf(w, "429 with Retry-After 300: %d requests to the paused bucket received after its answer began\n", r.PausedSends)
	}
	for _, op := range sortedKeys(r.Requests) {
		fmt.Fprintf(w, "  %-48s %d\n", op, r.Requests[op])
	}
	if p.Digest {
		fmt.Fprintf(w, "digest: %d nonces issued, %d signed requests refused, %.3f requests per API call\n",
			r.Nonces, r.Refused, float64(r.Total)/float64(r.Total-r.Nonces))
	}
	if p.NoncePolicy == atlastest.Lockout {
		fmt.Fprintf(w, "lockout policy (nonces live %s after first use, %s idle before each later refresh): failed logins per refresh (first, steady, jobs due) %v; lockouts %d\n",
			p.NonceExpires, p.Idle, r.FailedLogins, r.Lockouts)
	}
	fmt.Fprintf(w, "requests by a second scrape within min_refresh_interval: %d\n", r.SecondRefresh)
	fmt.Fprintf(w, "steady state (the refresh after min_refresh_interval): %d requests (floor %d: one per snapshot page per target; ratio %.3f)\n",
		r.Steady, r.Floor, float64(r.Steady)/float64(r.Floor))
	for _, op := range sortedKeys(r.SteadyRequests) {
		fmt.Fprintf(w, "  %-48s %d\n", op, r.SteadyRequests[op])
	}
	if p.Jobs {
		fmt.Fprintf(w, "once jobs_interval has passed: %d requests (floor %d + 1 + %d pages of jobs)\n", r.JobsDue, r.Floor, r.JobPages)
		for _, op := range sortedKeys(r.JobsDueRequests) {
			fmt.Fprintf(w, "  %-48s %d\n", op, r.JobsDueRequests[op])
		}
	}
	fmt.Fprintf(w, "/metrics: %d bytes (%d lines); rendered in %s CPU, the first time after a refresh in %s CPU\n",
		r.RenderBytes, r.RenderLines, r.RenderCPU.Round(time.Millisecond), r.FirstRenderCPU.Round(time.Millisecond))
	fmt.Fprintf(w, "peak heap: %.1f MiB; peak RSS: %.1f MiB\n", float64(r.HeapPeak)/(1<<20), float64(r.RSSPeakKiB)/1024)
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// policyNames are the -digest-policy values.
var policyNames = map[atlastest.NoncePolicy]string{
	atlastest.ReplayCheck: "replay", atlastest.IncreasingCount: "increasing", atlastest.OneUse: "one-use", atlastest.Lockout: "lockout",
}

func main() {
	var p Params
	flag.IntVar(&p.Projects, "projects", 200, "projects in the estate")
	flag.IntVar(&p.Clusters, "clusters", 5, "clusters per project")
	flag.IntVar(&p.Snapshots, "snapshots", 30, "snapshots per cluster")
	flag.DurationVar(&p.Latency, "latency", 50*time.Millisecond, "latency the fake adds to every API request")
	flag.IntVar(&p.Concurrency, "concurrency", 16, "max_concurrency")
	flag.BoolVar(&p.Digest, "digest", false, "use an API key (digest) instead of a service account")
	flag.IntVar(&p.NonceUses, "nonce-uses", 0, "digest: requests per nonce before the fake answers stale=true (0: unlimited)")
	flag.Func("digest-policy", "digest: how the fake checks nonce counts: replay (a count seen before is refused), increasing (a count not above the last one is refused), one-use (a nonce serves one request), lockout (as nginx-http-auth-digest: nonces expire after first use, 19 counts, 5 failed logins in a row lock the address out)", func(v string) error {
		for pol, name := range policyNames {
			if name == v {
				p.NoncePolicy = pol
				return nil
			}
		}
		return fmt.Errorf("want replay, increasing, one-use or lockout")
	})
	flag.DurationVar(&p.NonceExpires, "nonce-expires", 10*time.Second, "digest, lockout policy: how long a nonce lives after its first use (the module's default: 10s)")
	flag.DurationVar(&p.Idle, "idle", 0, "real time to wait before the steady-state and jobs-due refreshes, as between refreshes (digest nonces age)")
	flag.IntVar(&p.PageCap, "page-cap", 0, "most items per page the fake returns (0: as asked)")
	flag.BoolVar(&p.SnapshotMetrics, "snapshot-metrics", true, "expose per-snapshot series")
	flag.BoolVar(&p.Schedules, "backup-schedules", true, "read Cloud Backup schedules")
	flag.BoolVar(&p.Jobs, "jobs", true, "read restore and export jobs and compliance policies")
	flag.DurationVar(&p.Timeout, "timeout", time.Minute, "the client's per-request timeout (atlas.timeout)")
	flag.DurationVar(&p.RefreshTimeout, "refresh-timeout", 10*time.Minute, "refresh_timeout")
	flag.BoolVar(&p.FinishAbandoned, "finish-abandoned", false, "the fake goes on serving a request its client gave up on until its latency has passed, as Atlas does")
	flag.IntVar(&p.Reloads, "reloads", 0, "rebuild the client this many times during the first refresh, as a reload changing a client setting does")
	flag.BoolVar(&p.Pause, "pause", false, "answer one Cloud Backup snapshot listing of the first project with 429 and Retry-After: 300")
	flag.IntVar(&p.Scrapers, "scrapers", 1, "concurrent scrapes that trigger the refresh (with -soak: scrapers in the loop)")
	soakFor := flag.Duration("soak", 0, "instead: scrape the real /metrics handler with -scrapers clients for this long, with faults on")
	flag.IntVar(&p.Shards, "total-shards", 1, "with -rss: run this many exporter processes, one per shard")
	churnFor := flag.Int("churn", 0, "instead: run this many refreshes, each against -projects new projects in place of the last ones, and report the live heap")
	rss := flag.Int("rss", 0, "instead: build and run the exporter binary against the fake, and report its own RSS after the first refresh and after this many scrapes")
	flag.Parse()
	if *churnFor > 0 {
		r, err := churn(p, *churnFor)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.print(os.Stdout, p)
		return
	}
	if *rss > 0 {
		r, err := measureRSS(p, *rss)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.print(os.Stdout)
		return
	}
	if *soakFor > 0 {
		r, err := soak(p, *soakFor)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.print(os.Stdout, p, *soakFor)
		return
	}
	r, err := run(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r.print(os.Stdout)
}
