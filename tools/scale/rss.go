package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

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
}

// measureRSS builds the exporter, runs p.Shards processes of it (one per shard, at once)
// against the fake with p's estate, and reads each one's resident memory after its first
// refresh and after scrapes scrapes of /metrics.
func measureRSS(p Params, scrapes int) (*RSSReport, error) {
	dir, err := os.MkdirTemp("", "abe-rss")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return nil, fmt.Errorf("finding the module: %v", err)
	}
	bin := filepath.Join(dir, "atlas_backup_exporter")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = strings.TrimSpace(string(root))
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the exporter: %v\n%s", err, out)
	}
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: p.Projects, ClustersPerProject: p.Clusters, SnapshotsPerCluster: p.Snapshots, Kinds: kinds})
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
	errs := make(chan error, shards)
	for i := range shards {
		go func() {
			errs <- runShard(bin, cfg, i, shards, scrapes, &r.Shards[i])
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

// runShard runs one exporter process for shard i of total and measures it into m.
func runShard(bin, cfg string, i, total, scrapes int, m *ShardRSS) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr, "--log.level=warn",
		fmt.Sprintf("--shard=%d", i), fmt.Sprintf("--total-shards=%d", total))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
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
	pid := cmd.Process.Pid
	if m.AfterRefreshKiB, _, err = procStatus(pid); err != nil {
		return err
	}
	for range scrapes {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip") // as Prometheus asks
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		m.ExpositionBytes = int(n)
	}
	m.AfterScrapesKiB, m.PeakKiB, err = procStatus(pid)
	return err
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
		fmt.Fprintf(w, "shard %d: first refresh (from start) %s; RSS after it %.1f MiB; after %d gzipped scrapes (%d bytes each) %.1f MiB; peak %.1f MiB\n",
			i, m.FirstRefresh.Round(time.Millisecond), float64(m.AfterRefreshKiB)/1024, m.Scrapes, m.ExpositionBytes,
			float64(m.AfterScrapesKiB)/1024, float64(m.PeakKiB)/1024)
	}
}
