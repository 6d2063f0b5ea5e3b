package atlas

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Fetcher is the layer the refresh engine reads Atlas through. The Client's slots bound the
// HTTP requests in flight; the Fetcher collapses identical concurrent calls into one
// (singleflight), follows a gone endpoint to its replacement, and fans a refresh out per target
// so that one slow or failing cluster never holds back or hides the others. It keeps nothing
// per target: what is known of a target's gone endpoints comes with its TargetRead.
type Fetcher struct {
	apiMu sync.RWMutex
	api   API
	sf    singleflight.Group
}

// NewFetcher decorates api.
func NewFetcher(api API) *Fetcher {
	return &Fetcher{api: api}
}

var _ API = (*Fetcher)(nil)

// Use makes the fetcher read through api from now on (calls under way finish on the old one):
// api must reach the same Atlas host with the same credentials.
func (f *Fetcher) Use(api API) {
	f.apiMu.Lock()
	defer f.apiMu.Unlock()
	f.api = api
}

func (f *Fetcher) client() API {
	f.apiMu.RLock()
	defer f.apiMu.RUnlock()
	return f.api
}

func do[T any](f *Fetcher, key string, fn func() (T, error)) (T, error) {
	v, err, _ := f.sf.Do(key, func() (any, error) { return fn() })
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(T), nil
}

// Projects implements API.
func (f *Fetcher) Projects(ctx context.Context) ([]Project, error) {
	return do(f, "projects", func() ([]Project, error) { return f.client().Projects(ctx) })
}

// ProjectByName implements API.
func (f *Fetcher) ProjectByName(ctx context.Context, name string) (Project, error) {
	return do(f, "byName\x00"+name, func() (Project, error) { return f.client().ProjectByName(ctx, name) })
}

// Clusters implements API.
func (f *Fetcher) Clusters(ctx context.Context, projectID string) (ClusterList, error) {
	return do(f, "clusters\x00"+projectID, func() (ClusterList, error) { return f.client().Clusters(ctx, projectID) })
}

// ClusterNames implements API.
func (f *Fetcher) ClusterNames(ctx context.Context) ([]ProjectClusters, error) {
	return do(f, "clusterNames", func() ([]ProjectClusters, error) { return f.client().ClusterNames(ctx) })
}

// RequestsSent returns the HTTP requests the decorated client has sent so far, or 0 when it
// does not count them.
func (f *Fetcher) RequestsSent() uint64 {
	if c, ok := f.client().(interface{ RequestsSent() uint64 }); ok {
		return c.RequestsSent()
	}
	return 0
}

func targetKey(op string, t Target) string {
	s := op + "\x00" + t.ProjectID + "\x00" + t.Cluster + "\x00" + string(t.Kind)
	if t.Sharded {
		s += "\x00sharded"
	}
	return s
}

// Snapshots implements API.
func (f *Fetcher) Snapshots(ctx context.Context, t Target) ([]Snapshot, error) {
	return do(f, targetKey("list", t), func() ([]Snapshot, error) { return f.client().Snapshots(ctx, t) })
}

// Snapshot implements API.
func (f *Fetcher) Snapshot(ctx context.Context, t Target, id string) (Snapshot, error) {
	return do(f, targetKey("get", t)+"\x00"+id, func() (Snapshot, error) { return f.client().Snapshot(ctx, t, id) })
}

// Schedule implements API.
func (f *Fetcher) Schedule(ctx context.Context, t Target) (Schedule, error) {
	return do(f, targetKey("schedule", t), func() (Schedule, error) { return f.client().Schedule(ctx, t) })
}

// TargetRead is the plan to read one target: its whole snapshot list, or, where SnapshotIDs is set, just
// those snapshots through the get-one endpoint; and, where Schedule is set and the target is
// read through Cloud Backup, its backup schedule. Where Schedule is not set but a schedule read
// earlier is given, the schedule is read after all if the snapshots show that the policy
// changed since (Schedule.Explains).
type TargetRead struct {
	Target      Target
	SnapshotIDs []string
	Schedule    bool
	Cached      *Schedule
	CachedAt    time.Time // when Cached was read
	// RestoreJobs and ExportJobs ask for the target's restore and export jobs, read after its
	// snapshots where the kind served has them, each listing on its own (JobsResult).
	RestoreJobs, ExportJobs bool
	// Gone is what the last Result for the target said of its gone endpoints (Result.Gone):
	// the read goes straight to the replacement the chain leads to (see replacementOf), rather
	// than ask a gone endpoint at every refresh.
	Gone []*GoneError
}

// Result is what one TargetRead produced.
type Result struct {
	Read TargetRead
	// Served is the target actually read: Read.Target, or its replacement where the
	// requested kind's endpoint is gone.
	Served    Target
	Snapshots []Snapshot
	// Gone lists the endpoints that answered gone on the way to Served, oldest first.
	Gone []*GoneError
	Err  error
	// Schedule is the backup policy of a Cloud Backup target, read with its snapshots; nil for
	// other kinds, when it was not read, when ScheduleErr is set, or when reading the snapshots
	// failed.
	Schedule    *Schedule
	ScheduleErr error
	// RestoreJobsFollow and ExportJobsFollow say which job listings are read next, now that the
	// snapshots are: each is delivered on its own, as a JobsResult.
	RestoreJobsFollow, ExportJobsFollow bool
}

// Fetch reads every request concurrently. It calls deliver once per request with its snapshots
// and schedule as soon as they are read, and then reads each job listing the Result says follows
// on its own and calls deliverJobs with it, so that a job listing that fails or hangs never holds
// back the snapshots, nor the other listing. deliver and deliverJobs may be called from several
// goroutines at once; a target's jobs come after its snapshots.
//
// Fetch returns when every request's snapshots are delivered or ctx is done. The job reads go on,
// counted in jobs, until they are delivered or ctx is done; with jobs nil, Fetch waits for them
// too. Reads still running when ctx is done are abandoned and not delivered.
func (f *Fetcher) Fetch(ctx context.Context, reqs []TargetRead, deliver func(Result), deliverJobs func(JobsResult), jobs *sync.WaitGroup) {
	if jobs == nil {
		jobs = &sync.WaitGroup{}
		defer jobs.Wait()
	}
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := f.fetchOne(ctx, r)
			if ctx.Err() != nil {
				return
			}
			reads := f.jobReads(ctx, &res)
			deliver(res)
			// Counted before wg.Done, so before Fetch returns and its caller waits on jobs.
			jobs.Add(len(reads))
			for _, read := range reads {
				go func() {
					defer jobs.Done()
					if jr := read(); ctx.Err() == nil {
						deliverJobs(jr)
					}
				}()
			}
		}()
	}
	wg.Wait()
}

func (f *Fetcher) fetchOne(ctx context.Context, r TargetRead) Result {
	res := Result{Read: r, Served: r.Target}
	visited := map[Kind]bool{}
	if t, ok := replacementOf(r.Target, r.Gone); ok {
		res.Gone, res.Served = r.Gone, t
		for _, g := range r.Gone {
			visited[g.Kind] = true
		}
	}
	// The schedule is read beside the snapshots, not after them, when the kind is known.
	var sched chan scheduleResult
	if r.Schedule && res.Served.Kind.HasSchedule() {
		sched = make(chan scheduleResult, 1)
		go func(t Target) {
			s, err := f.Schedule(ctx, t)
			sched <- scheduleResult{s, err}
		}(res.Served)
	}
	for {
		visited[res.Served.Kind] = true
		res.Snapshots, res.Err = f.read(ctx, res.Served, r.SnapshotIDs)
		var g *GoneError
		if !errors.As(res.Err, &g) {
			break
		}
		res.Gone = append(res.Gone, g)
		if g.Replacement == "" || visited[g.Replacement] {
			break
		}
		res.Served = replaced(res.Served, g.Replacement)
	}
	var sr scheduleResult
	switch {
	case sched != nil:
		sr = <-sched // the call honours ctx, so this wait does too
	case res.Err == nil && res.Served.Kind.HasSchedule() &&
		(r.Schedule || (r.Cached != nil && !r.Cached.Explains(res.Snapshots, r.CachedAt))):
		// Reached Cloud Backup through a replacement, or the policy changed since it was read.
		sr.schedule, sr.err = f.Schedule(ctx, res.Served)
	default:
		return res
	}
	if res.Err == nil {
		if sr.err != nil {
			res.ScheduleErr = sr.err
		} else {
			res.Schedule = &sr.schedule
		}
	}
	return res
}

type scheduleResult struct {
	schedule Schedule
	err      error
}

// replacementOf is the target a chain of gone endpoints leads t to: the last one's replacement,
// where the chain starts at t's kind, each endpoint's replacement is the next one's kind, and
// the last has a replacement the chain has not been through. Any other chain (one that ended
// without a replacement, or went round) is not followed: the read starts at t.
func replacementOf(t Target, gone []*GoneError) (Target, bool) {
	k, seen := t.Kind, map[Kind]bool{}
	for _, g := range gone {
		if g == nil || g.Kind != k || g.Replacement == "" || seen[k] {
			return t, false
		}
		seen[k], k = true, g.Replacement
	}
	if len(gone) == 0 || seen[k] {
		return t, false
	}
	return replaced(t, k), true
}

func replaced(t Target, k Kind) Target {
	t.Kind = k
	return t
}

func (f *Fetcher) read(ctx context.Context, t Target, ids []string) ([]Snapshot, error) {
	if len(ids) == 0 {
		return f.Snapshots(ctx, t)
	}
	out := make([]Snapshot, 0, len(ids))
	for _, id := range ids {
		s, err := f.Snapshot(ctx, t, id)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
