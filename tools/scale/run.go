package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

func run(p Params) (*Report, error) {
	rg, err := newRig(p, atlas.Config{Timeout: cmp.Or(p.Timeout, time.Minute)}, estate.Settings{MinRefreshInterval: config.DefaultMinRefreshInterval,
		RefreshTimeout: cmp.Or(p.RefreshTimeout, 10*time.Minute), DiscoveryInterval: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	defer rg.close()
	est, fake, eng, ctx := rg.est, rg.fake, rg.eng, rg.ctx
	pausedProject, pausedCluster := pauseTarget(est)
	if p.Pause && pausedCluster == "" {
		return nil, fmt.Errorf("-pause needs a Cloud Backup cluster in the first project")
	}
	if p.Pause {
		fake.SetFault("listGroupClusterBackupSnapshots", pausedCluster, &atlastest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "300", Times: 1})
	}
	minimum := minimumRequests(est, p)

	stopSampling := sampleMemory()
	renders := startRenders(ctx, rg.coll)
	defer renders.close()
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
		r.Renders[i] = renders.take()
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
	if p.Orgs > 1 {
		r.PerOrg, r.MinimumPerOrg = map[string]int{}, map[string]int{}
		for i := range p.Orgs {
			id := atlastest.OrgID(i)
			of := &atlastest.Estate{}
			for _, proj := range est.Projects {
				if proj.OrgID == id || (i == 0 && proj.OrgID == "") {
					of.Projects = append(of.Projects, proj)
				}
			}
			r.PerOrg[id], r.MinimumPerOrg[id] = sum(fake.OrgCounts(id)), minimumRequests(of, p)
		}
	}
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

	if r.Render, err = measureRender(ctx, eng.View()); err != nil {
		return nil, err
	}
	r.HeapPeak, r.RSSPeakKiB = stopSampling()
	if p.HeapProfile != "" {
		if err := writeHeapProfile(p.HeapProfile); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// writeHeapProfile writes the live heap, after a collection, to path (go tool pprof reads it).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// minimumRequests is the fewest requests a refresh can make: per credential set the token (or,
// for digest, one challenge) and the pages of its organisation's project listing (and, with
// several sets, the organisation), three discovery listings per project, one request per
// snapshot page per target, and the backup schedule of each Cloud Backup target; with Jobs, the
// compliance policy of each project and the pages of jobs.
func minimumRequests(est *atlastest.Estate, p Params) int {
	n := 3*len(est.Projects) + jobPages(est, p)
	perOrg := map[string]int{}
	for _, proj := range est.Projects {
		perOrg[proj.OrgID]++
	}
	for _, projects := range perOrg {
		n += 1 + pages(projects, p)
		if p.Orgs > 1 {
			n++ // its organisation's name
		}
	}
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
	for _, org := range sortedKeys(r.PerOrg) {
		fmt.Fprintf(w, "  organisation %s, its own credential set: %d requests (minimum of its estate %d)\n", org, r.PerOrg[org], r.MinimumPerOrg[org])
	}
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
	fmt.Fprintf(w, "renders during the refreshes (each second, as the exporter's renderer does): first %s, steady state %s, once jobs are due %s\n",
		r.Renders[0], r.Renders[1], r.Renders[2])
	r.Render.print(w)
	fmt.Fprintf(w, "peak heap: %.1f MiB; peak RSS: %.1f MiB\n", float64(r.HeapPeak)/(1<<20), float64(r.RSSPeakKiB)/1024)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
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
