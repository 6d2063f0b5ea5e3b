package estate

import (
	"context"
	"sort"
	"time"

	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// reads turns planned targets into this refresh's reads, deciding for each whether its backup
// schedule is due and which job listings follow; e.mu must be held.
func (r *refresh) reads(p atlas.Project, plan []atlas.TargetRead) []atlas.TargetRead {
	e := r.e
	now := e.now()
	reads := make([]atlas.TargetRead, 0, len(plan))
	for _, read := range plan {
		t := read.Target
		ts := e.addTarget(t, p)
		if ts.seen == r.cycle {
			continue // another entry reads it in this refresh (of this set, or of another it reads for)
		}
		ts.seen = r.cycle
		if lc := atlas.LifecycleOf(t.Kind); lc.Deprecated {
			e.warnOnce(&ts.log, topicDeprecated, "msg", "snapshot endpoint is deprecated", "project_id", p.ID, "project", p.Name,
				"cluster", t.Cluster, "kind", t.Kind, "sunset_date", atlas.DayOf(lc.Sunset), "replacement", lc.Replacement)
		}
		read.Gone = ts.gone
		if r.settings.BackupSchedules {
			read.Schedule = ts.schedule == nil || ts.schedule.ReadAgain(ts.scheduleAt, now)
			if !read.Schedule {
				read.Cached, read.CachedAt = ts.schedule, ts.scheduleAt
			}
		}
		r.askJobs(t, ts, &read)
		reads = append(reads, read)
	}
	return reads
}

// deliver records what one target's read brought: its snapshots and schedule, or why not; and
// explains snapshots its listing shows deleted or shortened early (tamper.go).
func (r *refresh) deliver(ctx context.Context, res atlas.Result) {
	if f := r.record(res); f != nil {
		r.explain(ctx, f, res)
	}
}

// record keeps what res brought, and returns what comparing its listing with the target's last
// found.
func (r *refresh) record(res atlas.Result) *tamperFind {
	r.note(res.Err)
	e := r.e
	if !r.lockCurrent() {
		return nil
	}
	defer e.mu.Unlock()
	t := res.Read.Target
	r.delivered[t] = true
	ts := e.targets[t]
	if ts == nil {
		return nil
	}
	for _, g := range res.Gone {
		e.warnOnce(&ts.log, goneTopic(g.Kind), "msg", "snapshot endpoint answered that it is gone", "project_id", t.ProjectID,
			"project", ts.project.Name, "cluster", t.Cluster, "kind", g.Kind, "replacement", g.Replacement, "err", g.Err)
	}
	switch {
	case atlas.ClusterNotFound(res.Err):
		// Deleted since discovery (or never readable as this kind): its series go now, and its
		// project is discovered again at the next refresh to tell which.
		at, known := e.notFound[t]
		if !known {
			level.Info(e.logger).Log("msg", "cluster not found; dropping its series and discovering its project again", "project_id", t.ProjectID, "cluster", t.Cluster, "kind", t.Kind)
			if ps := e.projects[t.ProjectID]; ps != nil {
				ps.rediscover = true
			}
			at = r.cycle
		}
		e.dropTarget(t)
		// What Atlas said outlives the target: a discovery that lists the cluster again tells
		// that it exists, but not as this kind (target_missing).
		e.notFound[t] = at
		return nil
	case atlas.ProjectNotFound(res.Err):
		level.Info(e.logger).Log("msg", "project not found; dropping its series and resolving the configured projects again", "project_id", t.ProjectID)
		e.dropProject(t.ProjectID)
		e.rediscover = true
		return nil
	}
	if res.Err == nil {
		delete(e.notFound, t)
	}
	e.changed(t, ts)
	e.logChange(&ts.log, topicSnapshots, res.Err, "msg", "snapshot collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	ts.gone = res.Gone
	if res.Err != nil {
		ts.ok = false
		return nil
	}
	r.note(res.ScheduleErr)
	e.logChange(&ts.log, topicSchedule, res.ScheduleErr, "msg", "backup schedule collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	switch {
	case !res.Served.Kind.HasSchedule() || !r.settings.BackupSchedules:
		ts.schedule, ts.scheduleAt = nil, time.Time{}
	case res.Schedule != nil:
		ts.schedule, ts.scheduleAt = res.Schedule, e.now()
	}
	snaps := res.Snapshots
	sort.SliceStable(snaps, func(i, j int) bool { return snaps[i].CreatedAt.After(snaps[j].CreatedAt) })
	for _, s := range snaps {
		if s.Status == atlas.StatusUnknown && !ts.unknownSeen[s.RawStatus] {
			ts.unknownSeen[s.RawStatus] = true
			level.Warn(e.logger).Log("msg", "snapshot has a status Atlas does not document", "status", s.RawStatus, "project_id", t.ProjectID, "cluster", t.Cluster, "snapshot_id", s.ID)
		}
	}
	if sameSnapshots(ts.snapshots, snaps) {
		snaps = ts.snapshots // what a renderer made of them stays good
	}
	found := r.compare(t, ts, res, snaps)
	// A schedule that could not be read keeps its last value but fails the collection.
	ts.ok, ts.hasData, ts.fetchedAt = res.ScheduleErr == nil, true, e.now()
	ts.snapshots, ts.served = snaps, res.Served
	e.checkSnapshots(ts)
	r.expectJobs(ts, res)
	return found
}
