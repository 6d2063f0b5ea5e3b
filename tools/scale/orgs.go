package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/go-kit/log"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Two organisations, each read with its own credential set, sharing max_concurrency: what one
// organisation whose Atlas hangs (every call, token requests included) costs the other. The
// harness times the other organisation's refreshes (its set's snapshot phase, as
// CredentialsView.LastRefreshDuration has it) read alone, that is with the hanging set not
// configured, and read beside the hanging one: a first refresh (full discovery; the hanging
// set's first calls take its reserve, and more while the other waits for nothing, until they
// time out), then steady refreshes (the snapshots; the hanging set probed: one call at most,
// sent only while the other has none in flight or waiting), each two client timeouts after the
// last has ended, standing in for min_refresh_interval.

// steadyRefreshes is how many steady refreshes each side times.
const steadyRefreshes = 3

// OrgsReport is what a comparison measured.
type OrgsReport struct {
	Params Params
	// Alone and Beside are the good set's refreshes: the first, then the steady ones.
	Alone, Beside [1 + steadyRefreshes]time.Duration
	// Requests and BesideRequests are the good organisation's per refresh, alone and beside;
	// HangSent the requests the hanging organisation sent meanwhile; MaxInFlight and
	// BesideMaxInFlight the most requests of the good organisation Atlas served at once.
	Requests, BesideRequests, HangSent, MaxInFlight, BesideMaxInFlight [1 + steadyRefreshes]int
}

// orgsCompare times the good organisation's refreshes alone, then beside a hanging one.
func orgsCompare(p Params) (*OrgsReport, error) {
	r := &OrgsReport{Params: p}
	var err error
	alone, err := orgsSide(p, false)
	if err != nil {
		return nil, err
	}
	beside, err := orgsSide(p, true)
	if err != nil {
		return nil, err
	}
	r.Alone, r.Requests, r.MaxInFlight = alone.took, alone.good, alone.inFlight
	r.Beside, r.BesideRequests, r.BesideMaxInFlight, r.HangSent = beside.took, beside.good, beside.inFlight, beside.hung
	return r, nil
}

// orgsRefreshes is what one side measured, per refresh.
type orgsRefreshes struct {
	took                 [1 + steadyRefreshes]time.Duration
	good, inFlight, hung [1 + steadyRefreshes]int
}

// orgsSide runs the good organisation's refreshes, beside the hanging one or alone.
func orgsSide(p Params, hang bool) (m orgsRefreshes, err error) {
	hangOrg := atlastest.OrgID(1)
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 2 * p.Projects, ClustersPerProject: p.Clusters, SnapshotsPerCluster: p.Snapshots, Retention: keepAll(p.Snapshots), Kinds: kinds, Orgs: 2})
	fake := atlastest.NewServer(atlastest.Options{Estate: est, Latency: p.Latency, PageCap: p.PageCap, ClientID: "good", ClientSecret: "good-secret",
		Orgs: []atlastest.Org{{ID: hangOrg, Name: "hanging", ClientID: "hang", ClientSecret: "hang-secret"}}})
	defer fake.Close()
	if hang {
		fake.SetOrgFault(hangOrg, "*", "", &atlastest.Fault{Hang: true})
	}
	timeout := cmp.Or(p.Timeout, 2*time.Second)
	slots := atlas.NewSlots(p.Concurrency)
	s := estate.Settings{MinRefreshInterval: config.DefaultMinRefreshInterval, RefreshTimeout: cmp.Or(p.RefreshTimeout, 5*timeout), DiscoveryInterval: 24 * time.Hour,
		SnapshotMetrics: p.SnapshotMetrics, BackupSchedules: p.Schedules, RestoreJobs: p.Jobs, ExportJobs: p.Jobs, CompliancePolicy: p.Jobs,
		JobsInterval: config.DefaultJobsInterval, Named: true, Projects: []config.Project{{DiscoverAllProjects: true, Credentials: "good"}}}
	creds := map[string]atlas.ServiceAccount{"good": {ClientID: "good", ClientSecret: "good-secret"}}
	if hang {
		s.Projects = append(s.Projects, config.Project{DiscoverAllProjects: true, Credentials: "hanging"})
		creds["hanging"] = atlas.ServiceAccount{ClientID: "hang", ClientSecret: "hang-secret"}
	}
	src := estate.Sources{}
	var names []string
	for _, entry := range s.Projects {
		sa := creds[entry.Credentials]
		// The request timeout is the hanging organisation's; the good one's calls end only
		// with its refresh: one that outlasted a short timeout on a loaded machine would be
		// sent again, a request more (alone or beside) that the hang did not cause.
		t := timeout
		if entry.Credentials == "good" {
			t = s.RefreshTimeout
		}
		c, err := atlas.New(atlas.Config{BaseURL: fake.URL, ServiceAccount: &sa, Timeout: t, MaxConcurrency: p.Concurrency, Slots: slots, Share: entry.Credentials})
		if err != nil {
			return m, err
		}
		defer c.Close()
		src[entry.Credentials] = atlas.NewFetcher(c)
		names = append(names, entry.Credentials)
	}
	slots.Divide(names...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clk clock
	eng := estate.New(ctx, log.NewNopLogger(), src, s, clk.now)
	for i := range m.took {
		if i > 0 {
			// Refreshes are min_refresh_interval apart (5m), far more than the longest a hanging
			// call keeps its slot (two timeouts): the harness waits that long, not 5 minutes.
			time.Sleep(2 * timeout)
			// A hung request is counted when the fake sees its client gone, after the call
			// returned: the last refresh's are all in by now.
			m.hung[i-1] = sum(fake.OrgCounts(hangOrg))
			clk.advance(config.DefaultMinRefreshInterval)
		}
		fake.Reset()
		eng.Refresh(ctx)
		eng.WaitIdle(ctx)
		v := eng.View()
		m.took[i], m.inFlight[i] = v.Credentials[0].LastRefreshDuration, fake.OrgMaxInFlight(atlastest.DefaultOrgID)
		m.good[i] = sum(fake.OrgCounts(atlastest.DefaultOrgID))
	}
	time.Sleep(2 * timeout)
	m.hung[len(m.hung)-1] = sum(fake.OrgCounts(hangOrg))
	return m, nil
}

// steadyMedian is the median of the steady refreshes.
func steadyMedian(d [1 + steadyRefreshes]time.Duration) time.Duration {
	s := slices.Clone(d[1:])
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *OrgsReport) print(w io.Writer) {
	p := r.Params
	fmt.Fprintf(w, "two organisations of %d projects x %d clusters x %d snapshots each; latency %s; max_concurrency %d shared; timeout %s; the second's Atlas hangs (every call)\n",
		p.Projects, p.Clusters, p.Snapshots, p.Latency, p.Concurrency, cmp.Or(p.Timeout, 2*time.Second))
	fmt.Fprintf(w, "the first organisation's refreshes (its snapshot phase), alone / beside the hanging one:\n")
	for i := range r.Alone {
		kind := "steady"
		if i == 0 {
			kind = "first (full discovery)"
		}
		fmt.Fprintf(w, "  refresh %d, %-22s %8s / %8s  ratio %.3f; its requests %d / %d, at most %d / %d in flight; the hanging one's %d\n", i+1, kind+":",
			r.Alone[i].Round(time.Millisecond), r.Beside[i].Round(time.Millisecond), float64(r.Beside[i])/float64(r.Alone[i]),
			r.Requests[i], r.BesideRequests[i], r.MaxInFlight[i], r.BesideMaxInFlight[i], r.HangSent[i])
	}
	alone, beside := steadyMedian(r.Alone), steadyMedian(r.Beside)
	fmt.Fprintf(w, "steady refreshes, median: %s alone, %s beside the hanging organisation: ratio %.3f\n",
		alone.Round(time.Millisecond), beside.Round(time.Millisecond), float64(beside)/float64(alone))
}
