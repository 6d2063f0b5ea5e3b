package collector

import (
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Restore jobs, export jobs and the Backup Compliance Policy change slowly and may need roles
// the snapshots do not, so they have their own cadence and failures: a target's jobs are read
// once its snapshots are delivered, each family on its own, when jobs_interval has passed since
// they were last read (keeping the last good list when a read fails), and the policy with each
// discovery of its project. A family that fails or does not finish within refresh_timeout,
// Atlas refusing it included, never touches collect_success or the snapshot series.

// The families, as the family label names them.
const (
	familyRestores   = string(atlas.RestoreJobKind)
	familyExports    = string(atlas.ExportJobKind)
	familyCompliance = "compliance_policy"
)

var familySuccess = desc("family_collect_success", "1 if the last read of a family beyond snapshots succeeded, 0 if it failed or Atlas refused it (HTTP 403: the credentials lack the role it needs; the log names it); the last good data stays exposed. family is restore_jobs or export_jobs per cluster, compliance_policy per project (cluster and kind empty).", targetLabels, "family")

// historyDescs are the descriptors of every family beyond snapshots.
var historyDescs = []*prometheus.Desc{
	familySuccess, restoreJobs, lastRestore, lastFailedRestore, scheduleRestoreWindow,
	exportJobs, lastExport, lastFailedExport, copyRegionInfo, copyRegionInterval, lastCopied,
	complianceEnabled, complianceInfo, complianceWindow,
}

// jobsMeta is what the collector knows of a target's reads of one job family.
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

// jobsState is a target's jobs of one family: the list of the last successful read.
type jobsState[J any] struct {
	jobsMeta
	jobs []J
}

// gaugeFunc adds a sample of a target's metric with its labels and extra label values.
type gaugeFunc = func(d *prometheus.Desc, v float64, extra ...string)

// askHistory decides which job families req reads; c.mu must be held.
func (r *refresh) askHistory(ts *targetState, req *atlas.TargetRead) {
	c := r.c
	ps := c.projects[req.Target.ProjectID]
	if ps == nil {
		return
	}
	i, found := slices.BinarySearchFunc(ps.clusters, req.Target.Cluster, func(cl atlas.Cluster, name string) int { return strings.Compare(cl.Name, name) })
	if found && ps.clusters[i].PITEnabled != ts.pit {
		ts.pit, ts.cache = ps.clusters[i].PITEnabled, nil
	}
	req.RestoreJobs = r.settings.RestoreJobs && r.jobsDue(ps, ts, &ts.restores.jobsMeta, atlas.RestoreJobKind)
	req.ExportJobs = r.settings.ExportJobs && r.jobsDue(ps, ts, &ts.exports.jobsMeta, atlas.ExportJobKind)
}

// probe is a project and a refusal scope in which one target asks again in a refresh.
type probe struct {
	projectID string
	scope     atlas.RefusalScope
}

// jobsDue reports whether a target reads one job family in this refresh: once per refresh, when
// jobs_interval has passed since the last good read, and, in a project where Atlas refused the
// family, by one target per jobs_interval only. c.mu must be held.
func (r *refresh) jobsDue(ps *projectState, ts *targetState, m *jobsMeta, family atlas.JobKind) bool {
	now := r.c.now()
	if m.asked == r.cycle || (!m.at.IsZero() && now.Sub(m.at) < r.settings.JobsInterval) {
		return false
	}
	key := atlas.RefusalScope{Jobs: family, Kind: ts.served.Kind}
	if at, refused := ps.refused[key]; refused {
		p := probe{ps.project.ID, key}
		if now.Sub(at) < r.settings.JobsInterval || r.probed[p] {
			if !m.tried || m.ok {
				m.tried, m.ok, ts.cache = true, false, nil
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

// expectJobs notes the job families that follow the snapshots res delivered; c.mu must be held.
func (r *refresh) expectJobs(ts *targetState, res atlas.Result) {
	if res.RestoreJobsFollow {
		ts.restores.pending = r.cycle
	}
	if res.ExportJobsFollow {
		ts.exports.pending = r.cycle
	}
}

// deliverJobs records one job family a target's read brought, after its snapshots.
func (r *refresh) deliverJobs(res atlas.JobsResult) {
	if !r.lockCurrent() {
		return
	}
	defer r.c.mu.Unlock()
	if ts := r.c.targets[res.Read.Target]; ts != nil {
		ts.cache = nil
		r.applyJobs(ts, res)
	}
}

// failUnfinishedJobs fails the job reads this refresh left running at refresh_timeout: their
// families say so, with the last good jobs kept. c.mu must be held.
func (r *refresh) failUnfinishedJobs() {
	err := errUnfinished{r.settings.RefreshTimeout}
	for _, ts := range r.c.targets {
		for _, f := range [...]struct {
			name atlas.JobKind
			m    *jobsMeta
		}{{atlas.RestoreJobKind, &ts.restores.jobsMeta}, {atlas.ExportJobKind, &ts.exports.jobsMeta}} {
			if f.m.pending == r.cycle {
				r.applyFamily(ts, ts.served, f.name, f.m, err)
				ts.cache = nil
			}
		}
	}
}

// applyJobs records the jobs a result brought; c.mu must be held.
func (r *refresh) applyJobs(ts *targetState, res atlas.JobsResult) {
	if r.c.settings.RestoreJobs {
		keepJobs(r, ts, res.Served, atlas.RestoreJobKind, &ts.restores, res.RestoreJobs, func(j atlas.RestoreJob) (string, string, bool) {
			return j.ID, j.RawStatus, j.Status == atlas.RestoreUnknown
		})
	}
	if r.c.settings.ExportJobs {
		keepJobs(r, ts, res.Served, atlas.ExportJobKind, &ts.exports, res.ExportJobs, func(j atlas.ExportJob) (string, string, bool) {
			return j.ID, j.RawState, j.State == atlas.ExportUnknown
		})
	}
}

// keepJobs records one family's read, when there was one, and logs once each status Atlas
// does not document (undocumented says whether a job has one, with its id and raw value).
func keepJobs[J any](r *refresh, ts *targetState, served atlas.Target, family atlas.JobKind, s *jobsState[J], got *atlas.Jobs[J],
	undocumented func(J) (id, raw string, unknown bool)) {
	if got == nil || !r.applyFamily(ts, served, family, &s.jobsMeta, got.Err) {
		return
	}
	s.jobs = got.Jobs
	for _, j := range got.Jobs {
		if id, raw, unknown := undocumented(j); unknown {
			r.c.warnUnknown(ts, string(family), id, raw)
		}
	}
}

// applyFamily records the outcome of reading one job family of a target served as t and logs
// a change: a refusal once per project, other errors once per target. It reports whether the
// read succeeded. c.mu must be held.
func (r *refresh) applyFamily(ts *targetState, t atlas.Target, family atlas.JobKind, m *jobsMeta, err error) bool {
	c := r.c
	r.note(err)
	ps := c.projects[t.ProjectID]
	key := atlas.RefusalScope{Jobs: family, Kind: t.Kind}
	// A refusal is logged once per project.
	book, refusedLog := &ts.log, "refused "+string(key.Jobs)+"/"+string(key.Kind)
	if ps != nil {
		book = &ps.log
	}
	m.tried, m.ok, m.pending = true, err == nil, 0
	if ref := atlas.Refused(err); ref != nil {
		if ps != nil {
			if ps.refused == nil {
				ps.refused = map[atlas.RefusalScope]time.Time{}
			}
			ps.refused[key] = c.now()
		}
		c.logChange(book, refusedLog, ref, "msg", "Atlas refuses "+string(family)+" in this project; one cluster asks again every jobs_interval",
			"project_id", t.ProjectID, "project", ts.project.Name, "kind", t.Kind)
		return false
	}
	c.logChange(&ts.log, string(family), err, "msg", string(family)+" collection", "project_id", t.ProjectID, "project", ts.project.Name, "cluster", t.Cluster, "kind", t.Kind)
	if err != nil {
		return false
	}
	if ps != nil {
		delete(ps.refused, key)
	}
	c.logChange(book, refusedLog, nil, "msg", "Atlas no longer refuses "+string(family)+" in this project", "project_id", t.ProjectID, "project", ts.project.Name, "kind", t.Kind)
	m.read, m.at = true, c.now()
	return true
}

// warnUnknown logs, once per target and value, a status Atlas does not document; c.mu must be
// held.
func (c *Collector) warnUnknown(ts *targetState, family, id, raw string) {
	key := family + "\x00" + raw
	if ts.unknownSeen[key] {
		return
	}
	ts.unknownSeen[key] = true
	t := ts.served
	level.Warn(c.logger).Log("msg", "a job has a status Atlas does not document", "family", family, "status", raw, "project_id", t.ProjectID, "cluster", t.Cluster, "id", id)
}

// reconfigureHistory forgets the families a reconfiguration turns off, so that their series go
// at once and a later turn on starts afresh, and, with new credentials, what Atlas refused the
// old ones. c.mu must be held.
func (c *Collector) reconfigureHistory(old, s Settings, newSource bool) {
	for _, ts := range c.targets {
		if old.RestoreJobs && !s.RestoreJobs {
			ts.restores = jobsState[atlas.RestoreJob]{}
		}
		if old.ExportJobs && !s.ExportJobs {
			ts.exports = jobsState[atlas.ExportJob]{}
		}
	}
	for _, ps := range c.projects {
		if old.CompliancePolicy && !s.CompliancePolicy {
			ps.compliance = complianceState{}
		}
		if newSource {
			ps.refused = nil
		}
	}
}

// buildHistory adds a target's series of the families beyond snapshots.
func buildHistory(ts *targetState, gauge gaugeFunc) {
	if ts.restores.tried {
		gauge(familySuccess, b2f(ts.restores.ok), familyRestores)
	}
	if ts.exports.tried {
		gauge(familySuccess, b2f(ts.exports.ok), familyExports)
	}
	buildRestores(ts, gauge)
	buildExports(ts, gauge)
	buildCopies(ts, gauge)
}
