// Package rig runs the exporter's parts against the fake Atlas for tests: the real client and
// fetcher over loopback HTTP, the refresh engine on a clock the test moves, and the collector
// in a registry, with what /metrics would serve at hand. The engine's and the collector's tests
// share it.
package rig

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// Now is when every rig's clock starts.
var Now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// The generated estate's first two projects.
const (
	P1 = "5f0000000000000000000001"
	P2 = "5f0000000000000000000002"
)

// Series of project-001's flex-02 and dedicated-01 that the tests look at.
const (
	FlexSuccess = `atlas_backup_collect_success{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001"}`
	CloudLabels = `{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001"}`
	CloudOK     = "atlas_backup_collect_success" + CloudLabels + " 1"
	// The last good data fetched at the first refresh (Now) stays exposed with its time.
	FlexLastGood = `atlas_backup_collect_timestamp_seconds{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001"} 1.795176e+09`
	FlexCount    = `atlas_backup_snapshots{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="completed"} 2`
)

// Clock is a clock the test moves.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Env is the fake Atlas and the exporter's parts reading it.
type Env struct {
	Srv *atlastest.Server
	// Client and Fetcher are the atlas section's credential set's; Sources every set's.
	Client  *atlas.Client
	Fetcher *atlas.Fetcher
	Sources estate.Sources
	Engine  *estate.Engine
	Coll    *collector.Collector
	Clock   *Clock
	Logs    *testenv.Buffer
	Reg     *prometheus.Registry
}

// DefaultProjects: project-001 discovered; in project-002 a tenant cluster read through the
// sunset tenant endpoint, a legacy-backup cluster read through the legacy endpoint, and a
// cluster that does not exist; and a project name with a typo.
func DefaultProjects() []config.Project {
	return []config.Project{
		{ID: P1},
		{Name: "project-002", Clusters: []string{"tenant-03"}, Kinds: []atlas.Kind{atlas.KindTenant}},
		{Name: "project-002", Clusters: []string{"legacy-05", "no-such-cluster"}, Kinds: []atlas.Kind{atlas.KindLegacy}},
		{Name: "Prodction"},
	}
}

// DefaultSettings are the configuration's defaults.
func DefaultSettings() estate.Settings {
	return estate.Settings{MinRefreshInterval: 5 * time.Minute, RefreshTimeout: 10 * time.Second, DiscoveryInterval: time.Hour, SnapshotMetrics: true, BackupSchedules: true,
		RestoreJobs: true, ExportJobs: true, CompliancePolicy: true, JobsInterval: 30 * time.Minute}
}

// OneProject reads project-001 by id, refreshing at most once a minute.
func OneProject() estate.Settings {
	s := DefaultSettings()
	s.MinRefreshInterval, s.Projects = time.Minute, []config.Project{{ID: P1}}
	return s
}

// New starts a fake Atlas serving o's estate (by default two generated projects of eight
// clusters) and the exporter's parts reading it with s (by default DefaultProjects and a
// refresh_timeout of 10s); clientOpts change the client's configuration.
func New(t testing.TB, o atlastest.Options, s estate.Settings, clientOpts ...func(*atlas.Config)) *Env {
	t.Helper()
	return NewSets(t, o, s, nil, clientOpts...)
}

// NewSets is New with a client for each credential set s's projects name, each with the
// service account or API key creds gives it (else the rig's service account, the default
// organisation's); with several sets they share a bound of 8 requests in flight, divided
// between them.
func NewSets(t testing.TB, o atlastest.Options, s estate.Settings, creds map[string]atlas.Config, clientOpts ...func(*atlas.Config)) *Env {
	t.Helper()
	if o.Estate == nil {
		o.Estate = atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 2, ClustersPerProject: 8, SnapshotsPerCluster: 3, Now: Now})
	}
	o.ClientID, o.ClientSecret = "id", "secret"
	srv := atlastest.NewServer(o)
	t.Cleanup(srv.Close)
	if s.Projects == nil {
		s.Projects = DefaultProjects()
	}
	var sets []string
	for _, p := range s.Projects {
		if !slices.Contains(sets, p.Credentials) {
			sets = append(sets, p.Credentials)
		}
	}
	var slots *atlas.Slots
	if len(sets) > 1 {
		slots = atlas.NewSlots(8)
		slots.Divide(sets...)
	}
	src, clients := estate.Sources{}, map[string]*atlas.Client{}
	for _, name := range sets {
		cc := atlas.Config{BaseURL: srv.URL, ServiceAccount: &atlas.ServiceAccount{ClientID: "id", ClientSecret: "secret"}, Timeout: 2 * time.Second,
			Retry: atlas.RetryPolicy{MaxAttempts: 1}, Slots: slots, Share: name}
		if c, ok := creds[name]; ok {
			cc.ServiceAccount, cc.APIKey = c.ServiceAccount, c.APIKey
		}
		for _, o := range clientOpts {
			o(&cc)
		}
		client, err := atlas.New(cc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(client.Close)
		clients[name], src[name] = client, atlas.NewFetcher(client)
	}
	if s.RefreshTimeout == 0 {
		s.RefreshTimeout = 10 * time.Second
	}
	clk := NewClock(Now)
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	eng := estate.New(ctx, log.NewLogfmtLogger(logs), src, s, clk.Now)
	coll := collector.New(eng, clk.Now)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(coll)
	e := &Env{Srv: srv, Sources: src, Engine: eng, Coll: coll, Clock: clk, Logs: logs, Reg: reg}
	if f, ok := src[""]; ok {
		e.Client, e.Fetcher = clients[""], f.(*atlas.Fetcher)
	}
	return e
}

// Refresh refreshes as a scrape does, and waits for the refresh to end, its job reads included.
func (e *Env) Refresh(t testing.TB) {
	t.Helper()
	e.Engine.Refresh(t.Context())
	e.Engine.WaitIdle(t.Context())
}

// Exposition is what /metrics serves in the text format once the newest version is rendered:
// the data, then the registry's families.
func (e *Env) Exposition(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	if err := handler.WriteExposition(t.Context(), &buf, expfmt.FmtText, e.Coll, e.Reg); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// Reconfigure applies s with the same data source, as a reload that keeps the credentials.
func (e *Env) Reconfigure(s estate.Settings) { e.Engine.Reconfigure(e.Sources, s) }

// ShortRefreshes cuts refresh_timeout to 300ms once the first refresh has read everything, so
// that a slow machine cannot cut that one short.
func (e *Env) ShortRefreshes() {
	s := OneProject()
	s.RefreshTimeout = 300 * time.Millisecond
	e.Reconfigure(s)
}

// AddCluster adds a cluster to a project of the fake's estate, as when it is created in Atlas.
func (e *Env) AddCluster(project int, c *atlastest.Cluster) {
	e.Srv.Update(func(es *atlastest.Estate) { es.Projects[project].Clusters = append(es.Projects[project].Clusters, c) })
}

// RemoveCluster deletes a cluster from the fake's estate, as when it is deleted in Atlas.
func (e *Env) RemoveCluster(project int, name string) {
	e.Srv.Update(func(es *atlastest.Estate) {
		p := es.Projects[project]
		p.Clusters = slices.DeleteFunc(p.Clusters, func(c *atlastest.Cluster) bool { return c.Name == name })
	})
}

// MissingLines returns the target_missing samples of the exposition.
func (e *Env) MissingLines(t testing.TB) string {
	return strings.Join(Grep(e.Exposition(t), "atlas_backup_target_missing{"), "\n")
}

// ExpectLines fails for each line of want missing from the exposition out.
func ExpectLines(t testing.TB, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("missing %s", w)
		}
	}
}

// Grep returns the lines of out that contain substr, sorted.
func Grep(out, substr string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}

// Merge adds request counts up.
func Merge(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

// EqualCounts reports whether two request counts are the same.
func EqualCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Sum is the total of request counts.
func Sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// MustRegexp is s as the configuration compiles an expression.
func MustRegexp(t testing.TB, s string) *config.Regexp {
	t.Helper()
	raw := "atlas: {service_account: {client_id: a, client_secret: b}}\nprojects:\n  - {id: " + P1 + ", exclude: " + strconv.Quote(s) + "}\n"
	c, err := config.Parse("test", []byte(raw), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return c.Projects[0].Exclude
}
