package estate

import (
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Restore jobs, export jobs and the Backup Compliance Policy change slowly and may need roles
// the snapshots do not, so they have their own cadence and failures: a target's jobs are read
// once its snapshots are delivered, each listing on its own, when jobs_interval has passed since
// they were last read (keeping the last good list when a read fails), and the policy with each
// discovery of its project. A read that fails or does not finish within refresh_timeout, Atlas
// refusing it included, never touches the target's collection nor its snapshots.

// jobsMeta is what the engine knows of a target's reads of one job listing.
type jobsMeta struct {
	read  bool      // read successfully at least once
	at    time.Time // when last read successfully; zero makes them due
	tried bool      // asked for at least once, or refused in the project
	ok    bool      // the last attempt succeeded
	asked int       // the refresh cycle that last asked for them
	// pending is the refresh cycle whose read is under way, the snapshots it follows being
	// delivered; 0 when none is.
	pending int
}

// jobsState is a target's jobs of one listing: the list of the last successful read.
type jobsState[J any] struct {
	jobsMeta
	jobs []J
}

// probe is a project and a refusal scope in which one target asks again in a refresh.
type probe struct {
	projectID string
	scope     atlas.RefusalScope
}

// askJobs decides which job listings read reads for target t; e.mu must be held.
func (r *refresh) askJobs(t atlas.Target, ts *targetState, read *atlas.TargetRead) {
	e := r.e
	ps := e.projects[t.ProjectID]
	if ps == nil {
		return
	}
	i, found := slices.BinarySearchFunc(ps.clusters, t.Cluster, func(cl atlas.Cluster, name string) int { return strings.Compare(cl.Name, name) })
	if found && ps.clusters[i].PITEnabled != ts.pit {
		ts.pit = ps.clusters[i].PITEnabled
		e.changed(t, ts)
	}
	read.RestoreJobs = r.settings.RestoreJobs && r.jobsDue(t, ps, ts, &ts.restores.jobsMeta, atlas.RestoreJobKind)
	read.ExportJobs = r.settings.ExportJobs && r.jobsDue(t, ps, ts, &ts.exports.jobsMeta, atlas.ExportJobKind)
}

// jobsDue reports whether a target reads one job listing in this refresh: once per refresh, when
// jobs_interval has passed since the last good read, and, in a project where Atlas refused the
// listing, by one target per jobs_interval only. e.mu must be held.
func (r *refresh) jobsDue(t atlas.Target, ps *projectState, ts *targetState, m *jobsMeta, j atlas.JobKind) bool {
	now := r.e.now()
	if m.asked == r.cycle || (!m.at.IsZero() && now.Sub(m.at) < r.settings.JobsInterval) {
		return false
	}
	scope := atlas.RefusalScope{Jobs: j, Kind: ts.served.Kind}
	if at, refused := ps.refused[scope]; refused {
		p := probe{ps.project.ID, scope}
		if now.Sub(at) < r.settings.JobsInterval || r.probed[p] {
			if !m.tried || m.ok {
				m.tried, m.ok = true, false
				r.e.changed(t, ts)
			}
			return false
		}
		if r.probed == nil {
			r.probed = map[probe]bool{}
		}
		r.probed[p] = true
	}
	m.asked = r.cycle
	return true
}

// expectJobs notes the job listings that follow the snapshots res delivered; e.mu must be held.
func (r *refresh) expectJobs(ts *targetState, res atlas.Result) {
	if res.RestoreJobsFollow {
		ts.restores.pending = r.cycle
	}
	if res.ExportJobsFollow {
		ts.exports.pending = r.cycle
	}
}

// deliverJobs records one job listing a target's read brought, after its snapshots.
func (r *refresh) deliverJobs(res atlas.JobsResult) {
	if !r.lockCurrent() {
		return
	}
	defer r.e.mu.Unlock()
	t := res.Read.Target
	if ts := r.e.targets[t]; ts != nil {
		r.e.changed(t, ts)
		r.applyJobs(ts, res)
	}
}

// failUnfinishedJobs fails the job reads this refresh left running at refresh_timeout: their
// listings say so, with the last good jobs kept. e.mu must be held.
func (r *refresh) failUnfinishedJobs() {
	err := errUnfinished{r.settings.RefreshTimeout}
	for t, ts := range r.e.targets {
		for _, l := range [...]struct {
			jobs atlas.JobKind
			m    *jobsMeta
		}{{atlas.RestoreJobKind, &ts.restores.jobsMeta}, {atlas.ExportJobKind, &ts.exports.jobsMeta}} {
			if l.m.pending == r.cycle {
				r.applyRead(ts, ts.served, l.jobs, l.m, err)
				r.e.changed(t, ts)
			}
		}
	}
}

// applyJobs records the jobs a result brought, unless a reload turned their listing off since
// the refresh started; e.mu must be held.
func (r *refresh) applyJobs(ts *targetState, res atlas.JobsResult) {
	if r.live().RestoreJobs {
		keepJobs(r, ts, res.Served, atlas.RestoreJobKind, &ts.restores, res.RestoreJobs, func(j atlas.RestoreJob) (string, string, bool) {
			return j.ID, j.RawStatus, j.Status == atlas.RestoreUnknown
		})
	}
	if r.live().ExportJobs {
		keepJobs(r, ts, res.Served, atlas.ExportJobKind, &ts.exports, res.ExportJobs, func(j atlas.ExportJob) (string, string, bool) {
			return j.ID, j.RawState, j.State == atlas.ExportUnknown
		})
	}
}

// keepJobs records one listing's read, when there was one, and logs once each status Atlas
// does not document (undocumented says whether a job has one, with its id and raw value).
func keepJobs[J any](r *refresh, ts *targetState, served atlas.Target, j atlas.JobKind, s *jobsState[J], got *atlas.Jobs[J],
	undocumented func(J) (id, raw string, unknown bool)) {
	if got == nil || !r.applyRead(ts, served, j, &s.jobsMeta, got.Err) {
		return
	}
	s.jobs = got.Jobs
	for _, job := range got.Jobs {
		if id, raw, unknown := undocumented(job); unknown {
			r.e.warnUnknown(ts, j, id, raw)
		}
	}
}

// applyRead records the outcome of reading one job listing of a target served as t and logs a
// change: a refusal once per project, other errors once per target. It reports whether the
// read succeeded. e.mu must be held.
func (r *refresh) applyRead(ts *targetState, t atlas.Target, j atlas.JobKind, m *jobsMeta, err error) bool {
	e := r.e
	r.note(err)
	ps := e.projects[t.ProjectID]
	scope := atlas.RefusalScope{Jobs: j, Kind: t.Kind}
	// A refusal is logged once per project.
	book := &ts.log
	if ps != nil {
		book = &ps.log
	}
	m.tried, m.ok, m.pending = true, err == nil, 0
	if ref := atlas.Refused(err); ref != nil {
		if ps != nil {
			if ps.refused == nil {
				ps.refused = map[atlas.RefusalScope]time.Time{}
			}
			ps.refused[scope] = e.now()
		}
		e.logChange(book, refusedTopic(scope), ref, "msg", "Atlas refuses "+string(j)+" in this project; one cluster asks again every jobs_interval",
			"project_id", t.ProjectID, "project", ts.project.Name, "kind", t.Kind)
		return false
	}
	r.logRead(ts, t, j, err)
	if err != nil {
		return false
	}
	if ps != nil {
		delete(ps.refused, scope)
	}
	e.logChange(book, refusedTopic(scope), nil, "msg", "Atlas no longer refuses "+string(j)+" in this project", "project_id", t.ProjectID, "project", ts.project.Name, "kind", t.Kind)
	m.read, m.at = true, e.now()
	return true
}

// logRead logs a change in how reading listing j of a target served as t went, once per served
// target: two configured targets served by one replacement (a tenant cluster configured as such
// and discovered as Flex) read the same jobs, and the second only notes in its book what the
// first logged. e.mu must be held.
func (r *refresh) logRead(ts *targetState, t atlas.Target, j atlas.JobKind, err error) {
	key := servedRead{t, j}
	if r.logged[key] {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		ts.log.note(jobsTopic(j), msg)
		return
	}
	if r.logged == nil {
		r.logged = map[servedRead]bool{}
	}
	r.logged[key] = true
	r.e.logChange(&ts.log, jobsTopic(j), err, "msg", string(j)+" collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
}

// servedRead is a job listing of a served target.
type servedRead struct {
	served atlas.Target
	jobs   atlas.JobKind
}

// warnUnknown logs, once per target and value, a status Atlas does not document; e.mu must be
// held.
func (e *setEngine) warnUnknown(ts *targetState, j atlas.JobKind, id, raw string) {
	key := string(j) + "\x00" + raw
	if ts.unknownSeen[key] {
		return
	}
	ts.unknownSeen[key] = true
	t := ts.served
	level.Warn(e.logger).Log("msg", "a job has a status Atlas does not document", "family", string(j), "status", raw, "project_id", t.ProjectID, "cluster", t.Cluster, "id", id)
}

// reconfigureJobs forgets the reads a reconfiguration turns off, so that their series go at
// once and a later turn on starts afresh, and, with new credentials, what Atlas refused the old
// ones. e.mu must be held.
func (e *setEngine) reconfigureJobs(old, s Settings, newSource bool) {
	for t, ts := range e.targets {
		if old.RestoreJobs && !s.RestoreJobs {
			ts.restores = jobsState[atlas.RestoreJob]{}
			e.changed(t, ts)
		}
		if old.ExportJobs && !s.ExportJobs {
			ts.exports = jobsState[atlas.ExportJob]{}
			e.changed(t, ts)
		}
	}
	for _, ps := range e.projects {
		if old.CompliancePolicy && !s.CompliancePolicy {
			ps.compliance = complianceState{}
			e.projectChanged(ps)
		}
		if newSource {
			ps.refused = nil
		}
	}
}
