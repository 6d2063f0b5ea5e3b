package collector_test

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// data is the body in format f, uncompressed; OpenMetrics ends with # EOF, as the answer
// does after the exporter's own metrics.
func data(t *testing.T, b *collector.Body, f collector.Format) string {
	t.Helper()
	var buf bytes.Buffer
	if err := b.WritePlain(&buf, f); err != nil {
		t.Fatal(err)
	}
	if f == collector.OpenMetrics {
		buf.WriteString("# EOF\n")
	}
	return buf.String()
}

// uncached is what a registry gathers of v through the families' code, uncached: it checks
// that no family and no series comes twice, and that labels are consistent.
func uncached(t *testing.T, v *estate.View) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.Uncached(v))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// checkBody checks that b parses as one exposition (expfmt's text parser: no family twice),
// that it holds exactly the uncached rendering of v, and that every byte is what expfmt
// writes. With openMetrics, the same in OpenMetrics (its decoder: no family twice or
// interleaved; its HELP and TYPE lines as expfmt writes them, its numbers the same numbers);
// the decoder parses by grammar, slowly (seconds for the golden estate).
func checkBody(t *testing.T, b *collector.Body, v *estate.View, openMetrics bool) {
	t.Helper()
	text, om := data(t, b, collector.Text), data(t, b, collector.OpenMetrics)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("text format: %v", err)
	}
	var reencoded bytes.Buffer
	var order []*dto.MetricFamily
	for _, m := range regexp.MustCompile(`(?m)^# HELP (\S+) `).FindAllStringSubmatch(text, -1) {
		order = append(order, fams[m[1]])
		if _, err := expfmt.MetricFamilyToText(&reencoded, fams[m[1]]); err != nil {
			t.Fatal(err)
		}
	}
	if reencoded.String() != text {
		t.Errorf("the text format is not what expfmt writes:\n%s", testenv.FirstDiff(reencoded.String(), text))
	}
	want := uncached(t, v)
	if len(order) != len(fams) || len(order) != len(want) {
		t.Errorf("%d families (%d HELP lines), want %d", len(fams), len(order), len(want))
	}
	for _, w := range want {
		got := fams[w.GetName()]
		if got == nil {
			t.Errorf("%s missing", w.GetName())
			continue
		}
		sorted := proto.Clone(got).(*dto.MetricFamily)
		slices.SortFunc(sorted.Metric, compareMetrics)
		if !proto.Equal(sorted, w) {
			t.Errorf("%s differs from the uncached rendering:\n got %v\nwant %v", w.GetName(), sorted, w)
		}
	}

	if !openMetrics {
		return
	}
	dec := expfmt.NewDecoder(strings.NewReader(om), expfmt.FmtOpenMetrics_1_0_0)
	var omFams []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("OpenMetrics: %v", err)
		}
		omFams = append(omFams, mf)
	}
	if len(omFams) != len(order) {
		t.Fatalf("OpenMetrics: %d families, text %d", len(omFams), len(order))
	}
	reencoded.Reset()
	for i, mf := range omFams {
		if !proto.Equal(mf, order[i]) {
			t.Errorf("OpenMetrics family %d differs from the text format's:\n got %v\nwant %v", i, mf, order[i])
		}
		if _, err := expfmt.MetricFamilyToOpenMetrics(&reencoded, mf); err != nil {
			t.Fatal(err)
		}
	}
	reencoded.WriteString("# EOF\n")
	checkSameNumbers(t, reencoded.String(), om)
}

// checkSameNumbers checks that two OpenMetrics expositions have the same lines, sample values
// compared as numbers (expfmt writes 1 as 1.0; the body writes the text format's 1, which
// OpenMetrics reads as the same number).
func checkSameNumbers(t *testing.T, want, got string) {
	t.Helper()
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	if len(w) != len(g) {
		t.Fatalf("OpenMetrics: %d lines, expfmt writes %d", len(g), len(w))
	}
	for i := range w {
		if w[i] == g[i] {
			continue
		}
		wi, gi := strings.LastIndexByte(w[i], ' '), strings.LastIndexByte(g[i], ' ')
		wv, werr := strconv.ParseFloat(w[i][wi+1:], 64)
		gv, gerr := strconv.ParseFloat(g[i][gi+1:], 64)
		if strings.HasPrefix(w[i], "#") || w[i][:wi] != g[i][:gi] || werr != nil || gerr != nil || (wv != gv && !(math.IsNaN(wv) && math.IsNaN(gv))) {
			t.Errorf("OpenMetrics line %d is %q, expfmt writes %q", i+1, g[i], w[i])
		}
	}
}

// compareMetrics orders metrics by their label values, as a registry does.
func compareMetrics(a, b *dto.Metric) int {
	for i := range min(len(a.Label), len(b.Label)) {
		if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.Label), len(b.Label))
}

// TestBodyIsTheUncachedRendering: what the estate of every kind renders to, compressed in
// groups and concatenated, is one exposition in both formats and exactly the uncached
// rendering; and still so after a refresh that changed some targets, rendered again only in
// part.
func TestBodyIsTheUncachedRendering(t *testing.T) {
	e := newEnv(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}}, defaultSettings())
	e.refresh(t)
	body := e.coll.Exposition(t.Context(), true)
	// OpenMetrics's decoder takes seconds here: -short leaves it to the hostile view's test.
	checkBody(t, body, e.engine.View(), !testing.Short())
	groups := e.coll.GroupRenders()

	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Status: 500})
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.Snapshots = append([]atlastest.Snap{{ID: "6a00000000000000000000f9", Status: "inProgress", CreatedAt: testNow, Type: "onDemand"}}, c.Snapshots...)
	})
	removeCluster(e, 1, "legacy-05")
	e.clock.Advance(time.Hour)
	e.refresh(t)
	next := e.coll.Exposition(t.Context(), true)
	if next.Version == body.Version {
		t.Fatal("no new version rendered")
	}
	checkBody(t, next, e.engine.View(), false)
	if e.coll.GroupRenders() == groups {
		t.Error("the new version rendered no group")
	}
}

// hostile is a view whose names and values need every escape the formats have.
func hostile() *estate.View {
	p := atlas.Project{ID: "5f00000000000000000000a1", Name: "al\"pha\\beta\nгамма"}
	tv := &estate.TargetView{
		Project: p, Target: atlas.Target{ProjectID: p.ID, Cluster: `db "prod"`, Kind: atlas.KindCloud}, OK: true, HasData: true, FetchedAt: testNow,
		Snapshots: []atlas.Snapshot{
			{ID: "id\\with\"quote", Status: atlas.StatusCompleted, CreatedAt: testNow.Add(-time.Hour), ExpiresAt: testNow.AddDate(1, 0, 0), SizeBytes: math.MaxInt64, HasSize: true,
				Type: "scheduled", Frequency: "hourly", MongoDBVersion: "8.0.4\n"},
			{ID: "6a00000000000000000000a2", Status: atlas.StatusUnknown, Type: "onDemand"},
		},
		Schedule: &atlas.Schedule{NextSnapshot: testNow.Add(time.Hour), Items: []atlas.PolicyItem{{Frequency: "hourly", Interval: 6}}, RestoreWindowDays: 2,
			Copies: []atlas.CopyRegion{{CloudProvider: "AWS", Region: "EU_WEST_1"}}},
		PIT: true,
	}
	return &estate.View{
		Version: 7, SnapshotMetrics: true,
		Health: estate.Health{Up: true, Ready: true, LastRefreshDuration: 1500 * time.Millisecond, LastRequests: map[string]float64{"full": 1e6},
			Shard: estate.Shard{Index: 0, Total: 1}},
		Projects: []*estate.ProjectView{{Project: p, DiscoveryOK: true, DiscoveredAt: testNow,
			Clusters: []estate.ClusterView{{Cluster: atlas.Cluster{Name: `db "prod"`, Kind: atlas.KindCloud, Type: "REPLICASET", Tier: "M10", State: "IDLE", MongoDBVersion: "8.0.4"}, BackupKind: atlas.KindCloud}}}},
		Targets: []*estate.TargetView{tv},
		Missing: []estate.MissingTarget{{Project: "\\\"\n"}},
	}
}

func TestHostileValuesAreWrittenAsExpfmtWritesThem(t *testing.T) {
	v := hostile()
	checkBody(t, collector.New(&static{v}, func() time.Time { return testNow }).Exposition(t.Context(), true), v, true)
}

// stepClock is a clock a test moves.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// delivered is v's next version, its first target read again (a new view of it), with new
// snapshots when snapshots is set.
func delivered(v *estate.View, snapshots bool) *estate.View {
	next := *v
	next.Version++
	next.Targets = slices.Clone(v.Targets)
	tv := *next.Targets[0]
	tv.FetchedAt = tv.FetchedAt.Add(time.Minute)
	if snapshots {
		tv.Snapshots = slices.Clone(tv.Snapshots)
	}
	next.Targets[0] = &tv
	return &next
}

// TestScrapesBetweenVersionsRenderNothing: a version is rendered once, whatever the scrapes;
// a new one is served to the first scrape a second after the last render began (before that,
// the last body), at once when it ends a snapshot phase, or to a caller asking for the newest
// (fresh); only the groups that changed are rendered again.
func TestScrapesBetweenVersionsRenderNothing(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, defaultSettings())
	e.refresh(t)
	src, clock := &static{e.engine.View()}, &stepClock{t: testNow}
	coll := collector.New(src, clock.now)
	ctx := t.Context()
	first := coll.Exposition(ctx, false)
	groups := coll.GroupRenders()
	for range 5 {
		clock.advance(100 * time.Millisecond)
		if b := coll.Exposition(ctx, true); b != first {
			t.Fatal("a scrape between versions got another body")
		}
	}
	if n := coll.Renders(); n != 1 || groups < 2 {
		t.Fatalf("%d renders of %d groups for one version, want 1 of several", n, groups)
	}

	// One target read again, its snapshots the same: within a second of the render, the
	// last body; a second after, the new version, its target's group rendered again.
	src.v = delivered(src.v, false)
	clock.advance(400 * time.Millisecond)
	if b := coll.Exposition(ctx, false); b != first || coll.Renders() != 1 {
		t.Fatal("a scrape within a second of the last render rendered")
	}
	clock.advance(100 * time.Millisecond)
	if b := coll.Exposition(ctx, false); b.Version != src.v.Version || coll.Renders() != 2 || coll.GroupRenders() != groups+1 {
		t.Fatalf("a second after: version %d (want %d), %d renders, %d groups rendered (want 2 and %d)", b.Version, src.v.Version, coll.Renders(), coll.GroupRenders()-groups, 1)
	}
	// Its snapshots changed: a scrape owed the new version gets it at once, the target's
	// two groups (target families, per-snapshot families) rendered again.
	src.v = delivered(src.v, true)
	if b := coll.Exposition(ctx, true); b.Version != src.v.Version || coll.Renders() != 3 || coll.GroupRenders() != groups+3 {
		t.Fatalf("fresh: version %d (want %d), %d renders, %d groups rendered (want 3 and 2 more)", b.Version, src.v.Version, coll.Renders(), coll.GroupRenders()-groups-1)
	}
	// The end of a snapshot phase is served at once: the scrapes waiting for the refresh are
	// released at it.
	src.v = delivered(src.v, false)
	src.v.Health.Phases++
	if b := coll.Exposition(ctx, false); b.Version != src.v.Version || coll.Renders() != 4 {
		t.Fatalf("the end of a snapshot phase: version %d (want %d), %d renders (want 4)", b.Version, src.v.Version, coll.Renders())
	}
	checkBody(t, coll.Exposition(ctx, false), src.v, false)
}

// TestConcurrentScrapesShareOneRender: scrapes that find a new version wait for one render.
func TestConcurrentScrapesShareOneRender(t *testing.T) {
	v := hostile()
	coll := collector.New(&static{v}, func() time.Time { return testNow })
	var wg sync.WaitGroup
	bodies := make([]*collector.Body, 20)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = coll.Exposition(t.Context(), true)
		}()
	}
	wg.Wait()
	for _, b := range bodies {
		if b != bodies[0] {
			t.Fatal("concurrent scrapes got different bodies")
		}
	}
	if n := coll.Renders(); n != 1 {
		t.Errorf("%d renders for 20 concurrent scrapes of one version", n)
	}
}

// TestScrapeWaitingForARenderHonoursItsDeadline: a scrape whose deadline passes while another
// renders gets the last body, none before the first.
func TestScrapeWaitingForARenderHonoursItsDeadline(t *testing.T) {
	src := &blocking{v: hostile(), entered: make(chan struct{}), release: make(chan struct{})}
	coll := collector.New(src, func() time.Time { return testNow })
	done := make(chan *collector.Body)
	go func() { done <- coll.Exposition(context.Background(), true) }()
	<-src.entered // the first scrape renders
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if b := coll.Exposition(ctx, true); b != nil {
		t.Error("a scrape that gave up waiting for the first render got a body")
	}
	close(src.release)
	if b := <-done; b == nil || b.Version != 7 {
		t.Errorf("the render under way gave %v", b)
	}
}

// TestAFailedRenderReleasesItsWaiters: a render that panics (a family's code gone wrong) does
// not leave the scrapes waiting for it hanging until their deadline.
func TestAFailedRenderReleasesItsWaiters(t *testing.T) {
	src := &blocking{v: hostile(), entered: make(chan struct{}), release: make(chan struct{}), panics: true}
	coll := collector.New(src, func() time.Time { return testNow })
	go func() {
		defer func() { _ = recover() }()
		coll.Exposition(context.Background(), true)
	}()
	<-src.entered
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	waited := make(chan *collector.Body)
	go func() { waited <- coll.Exposition(ctx, true) }()
	time.Sleep(10 * time.Millisecond) // let it wait (if not, it renders itself: no harm)
	close(src.release)
	if b := <-waited; ctx.Err() != nil {
		t.Errorf("a scrape waited for a failed render until its deadline (got %v)", b)
	}
}

// blocking is a Source whose second View call (the render's) waits for release, then panics
// if told to.
type blocking struct {
	v       *estate.View
	calls   int
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
	panics  bool
}

func (s *blocking) View() *estate.View {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if n == 2 {
		close(s.entered)
		<-s.release
		if s.panics {
			panic("the view cannot be read")
		}
	}
	return s.v
}

// TestRunRendersEachVersionOffTheScrapePath: the renderer renders each version the engine
// signals, so that scrapes find it rendered and render nothing.
func TestRunRendersEachVersionOffTheScrapePath(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		e.coll.Run(ctx, e.engine.Changes())
	}()
	defer func() {
		cancel()
		<-ran
	}()
	for i := range 2 {
		e.clock.Advance(time.Minute)
		e.refresh(t)
		want := e.engine.View().Version
		deadline := time.Now().Add(20 * time.Second)
		for e.coll.RenderedVersion() != want {
			if time.Now().After(deadline) {
				t.Fatalf("refresh %d: version %d not rendered (rendered: %d)", i, want, e.coll.RenderedVersion())
			}
			time.Sleep(10 * time.Millisecond)
		}
		renders := e.coll.Renders()
		// The rig's clock stands still: a scrape would not render anyway for a second; a
		// fresh one would, were the version not rendered.
		if b := e.coll.Exposition(ctx, true); b.Version != want || e.coll.Renders() != renders {
			t.Errorf("refresh %d: a scrape rendered (version %d, want %d)", i, b.Version, want)
		}
	}
}
