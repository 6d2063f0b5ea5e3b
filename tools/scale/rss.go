package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// prometheusAccept is what Prometheus 3 asks for by default (its scrape_protocols, in order),
// with gzip: the harness scrapes as it does.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"

// RSSReport is the memory of each exporter process alone (the fake Atlas runs in the harness):
// one, or one per shard.
type RSSReport struct {
	Params   Params
	Shards   []ShardRSS
	Requests int // to the fake, by every process, for the first refresh and the scrapes
}

// ShardRSS is one exporter process.
type ShardRSS struct {
	FirstRefresh                     time.Duration // from start to ready
	AfterRefreshKiB, AfterScrapesKiB int64         // VmRSS
	PeakKiB                          int64         // VmHWM, after the scrapes
	Scrapes, ExpositionBytes         int
	// ScrapeCPU is the process's CPU time (user and system, from /proc) over the scrapes, all
	// between two refreshes and scrapeGap apart, idle time between them included; Walls the
	// time each scrape took to its last byte.
	ScrapeCPU   time.Duration
	Walls       []time.Duration
	ContentType string
	Series      int // sample lines of the last scrape
}

// measureRSS builds the exporter from the module at src (this one when ""), runs p.Shards
// processes of it (one per shard, at once) against the fake with p's estate, and reads each
// one's resident memory after its first refresh has ended (its job reads included) and after
// scrapes scrapes of /metrics, as Prometheus asks for them, and the CPU time they cost it.
func measureRSS(p Params, scrapes int, src string) (*RSSReport, error) {
	dir, err := os.MkdirTemp("", "abe-rss")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if src == "" {
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
		if err != nil {
			return nil, fmt.Errorf("finding the module: %v", err)
		}
		src = strings.TrimSpace(string(root))
	}
	bin := filepath.Join(dir, "atlas_backup_exporter")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the exporter: %v\n%s", err, out)
	}
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: p.Projects, ClustersPerProject: p.Clusters, SnapshotsPerCluster: p.Snapshots, Retention: keepAll(p.Snapshots), Kinds: kinds})
	fake := atlastest.NewServer(atlastest.Options{Estate: est, Latency: p.Latency, ClientID: "scale", ClientSecret: "scale-secret"})
	defer fake.Close()
	cfg := filepath.Join(dir, "exporter.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`atlas:
  base_url: %s
  service_account: {client_id: scale, client_secret: scale-secret}
  max_concurrency: %d
min_refresh_interval: 1h
refresh_timeout: 30m
snapshot_metrics: %t
backup_schedules: %t
restore_jobs: %[5]t
export_jobs: %[5]t
compliance_policy: %[5]t
projects:
  - discover_all_projects: true
`, fake.URL, p.Concurrency, p.SnapshotMetrics, p.Schedules, p.Jobs)), 0o600); err != nil {
		return nil, err
	}
	shards := max(1, p.Shards)
	r := &RSSReport{Params: p, Shards: make([]ShardRSS, shards)}
	// The first refresh has ended, its job reads included, once Atlas has received no request
	// for two seconds.
	var last struct {
		n  int
		at time.Time
	}
	var mu sync.Mutex
	refreshed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if n := fake.Count(""); n != last.n {
			last.n, last.at = n, time.Now()
		}
		return time.Since(last.at) >= 2*time.Second
	}
	errs := make(chan error, shards)
	for i := range shards {
		go func() {
			var extra []string
			if p.Storage {
				extra = append(extra, "--storage.path="+filepath.Join(dir, fmt.Sprintf("state-%d.json", i)))
			}
			errs <- runShard(bin, cfg, i, shards, scrapes, refreshed, &r.Shards[i], extra...)
		}()
	}
	for range shards {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	r.Requests = fake.Count("")
	return r, nil
}

// scrapeGap is the time between two scrapes of a shard.
const scrapeGap = 1100 * time.Millisecond

// runShard runs one exporter process for shard i of total and measures it into m, once
// refreshed says the first refresh has ended.
func runShard(bin, cfg string, i, total, scrapes int, refreshed func() bool, m *ShardRSS, extra ...string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, append([]string{"--config.file=" + cfg, "--web.listen-address=" + addr, "--log.level=warn",
		fmt.Sprintf("--shard=%d", i), fmt.Sprintf("--total-shards=%d", total)}, extra...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// The budgets hold without a memory limit.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMEMLIMIT=") })
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for {
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("shard %d was not ready in time:\n%s", i, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.FirstRefresh, m.Scrapes = time.Since(start), scrapes
	for !refreshed() {
		if ctx.Err() != nil {
			return fmt.Errorf("shard %d: the first refresh did not end in time:\n%s", i, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let the last results be rendered.
	time.Sleep(time.Second)
	pid := cmd.Process.Pid
	if m.AfterRefreshKiB, _, err = procStatus(pid); err != nil {
		return err
	}
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	var body []byte
	for j := range scrapes {
		if j > 0 {
			// Scrapes come seconds apart (1s is Prometheus's shortest interval): none is
			// served what an earlier one's second produced.
			time.Sleep(scrapeGap)
		}
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		req.Header.Set("Accept", prometheusAccept)
		req.Header.Set("Accept-Encoding", "gzip")
		t0 := time.Now()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		m.Walls = append(m.Walls, time.Since(t0))
		m.ExpositionBytes, m.ContentType = len(body), resp.Header.Get("Content-Type")
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	m.ScrapeCPU = cpu1 - cpu0
	if m.AfterScrapesKiB, m.PeakKiB, err = procStatus(pid); err != nil {
		return err
	}
	m.Series, err = countSeries(body)
	return err
}

// countSeries counts the sample lines of a gzipped exposition.
func countSeries(body []byte) (int, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range bytes.Lines(plain) {
		if len(line) > 1 && line[0] != '#' {
			n++
		}
	}
	return n, nil
}

// procCPU reads the user and system CPU time pid has used, from /proc (in clock ticks of
// 10ms, the USER_HZ of Linux).
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces: the fields that follow it count from
	// its closing parenthesis, utime and stime being the 12th and 13th.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// procStatus reads the current and peak resident set size of pid, in KiB.
func procStatus(pid int) (rss, hwm int64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm, nil
}

func (r *RSSReport) print(w io.Writer) {
	p := r.Params
	fmt.Fprintf(w, "exporter processes alone: %d clusters, %d snapshots in %d shard(s); snapshot_metrics %v; latency %s; concurrency %d; %d requests to the fake\n",
		p.Projects*p.Clusters, p.Projects*p.Clusters*p.Snapshots, len(r.Shards), p.SnapshotMetrics, p.Latency, p.Concurrency, r.Requests)
	for i, m := range r.Shards {
		fmt.Fprintf(w, "shard %d: ready (from start) %s; RSS once the first refresh ended %.1f MiB; after %d gzipped scrapes %.1f MiB; peak %.1f MiB\n",
			i, m.FirstRefresh.Round(time.Millisecond), float64(m.AfterRefreshKiB)/1024, m.Scrapes,
			float64(m.AfterScrapesKiB)/1024, float64(m.PeakKiB)/1024)
		walls := slices.Sorted(slices.Values(m.Walls))
		fmt.Fprintf(w, "  scrapes between refreshes: %.3f CPU-s each (%s for %d); wall median %s, max %s; %d bytes gzipped, %d series; %s\n",
			m.ScrapeCPU.Seconds()/float64(max(1, m.Scrapes)), m.ScrapeCPU, m.Scrapes, walls[len(walls)/2].Round(time.Millisecond),
			walls[len(walls)-1].Round(time.Millisecond), m.ExpositionBytes, m.Series, m.ContentType)
	}
}
