package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
)

// SoakReport is what a load run measured.
type SoakReport struct {
	Scrapes, Failed                   int
	MaxLatency                        time.Duration
	GoroutinesBefore, GoroutinesAfter int
	HeapPeak                          uint64
	RSSPeakKiB                        int64
	Refreshes                         int
	Requests                          int
}

// soak runs p.Scrapers scrapers against the real /metrics handler for d, with faults on a
// fifth of the clusters (500s, 429s with Retry-After, requests that never answer) and a short
// min_refresh_interval, so refreshes overlap the scrapes. Each scrape asks for scrapeTimeout,
// as Prometheus does; the data is rendered off the scrape path, as main does.
func soak(p Params, d, scrapeTimeout time.Duration) (*SoakReport, error) {
	rg, err := newRig(p, atlas.Config{Timeout: time.Second,
		Retry: atlas.RetryPolicy{MaxAttempts: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond}},
		estate.Settings{MinRefreshInterval: 2 * time.Second, RefreshTimeout: 20 * time.Second})
	if err != nil {
		return nil, err
	}
	defer rg.close()
	fake, client, eng, coll, reg, ctx := rg.fake, rg.client, rg.eng, rg.coll, rg.reg, rg.ctx
	for i, proj := range rg.est.Projects {
		// Faults name a cluster: a name no other project has keeps each to its one cluster.
		c := fmt.Sprintf("%s-p%d", proj.Clusters[0].Name, i)
		proj.Clusters[0].Name = c
		switch i % 15 {
		case 0:
			fake.SetFault("listGroupClusterBackupSnapshots", c, &atlastest.Fault{Status: 500})
		case 5:
			fake.SetFault("listGroupClusterBackupSnapshots", c, &atlastest.Fault{Status: 429, RetryAfter: "1"})
		case 10:
			fake.SetFault("listGroupClusterBackupSnapshots", c, &atlastest.Fault{Hang: true})
		}
	}
	web := httptest.NewServer(handler.Metrics(reg, eng, coll, log.NewNopLogger(), handler.Options{Offset: 500 * time.Millisecond, MaxTimeout: 25 * time.Second}))
	defer web.Close()
	eng.Refresh(ctx) // the first, full refresh
	eng.WaitIdle(ctx)
	// As the exporter serves it: by the first scrape, the first refresh is rendered, and later
	// versions are rendered as they come, off the scrape path.
	coll.Exposition(ctx, true)
	go coll.Run(ctx, eng.Changes())

	r := &SoakReport{GoroutinesBefore: runtime.NumGoroutine()}
	stopSampling := sampleMemory()
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range p.Scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second}
			defer hc.CloseIdleConnections()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", web.URL+"/metrics", nil)
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(scrapeTimeout.Seconds(), 'f', -1, 64))
				// As Prometheus asks; set by hand, the body stays compressed, so this process
				// does not spend the scraper's CPU on decompressing it.
				req.Header.Set("Accept-Encoding", "gzip")
				start := time.Now()
				resp, err := hc.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat := time.Since(start)
				mu.Lock()
				r.Scrapes++
				if !ok {
					r.Failed++
				}
				r.MaxLatency = max(r.MaxLatency, lat)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.HeapPeak, r.RSSPeakKiB = stopSampling()
	r.Requests = fake.Count("")
	r.Refreshes = fake.Count("listGroups")
	// Let the last refresh end (its hung requests time out), then count what is left running.
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	eng.WaitIdle(waitCtx)
	web.CloseClientConnections()
	client.Close()
	// Closed connections' goroutines end a moment later, later still on a loaded machine.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r.GoroutinesAfter = runtime.NumGoroutine()
		if r.GoroutinesAfter <= r.GoroutinesBefore || time.Now().After(end) {
			return r, nil
		}
	}
}

func (r *SoakReport) print(w io.Writer, p Params, d, scrapeTimeout time.Duration) {
	fmt.Fprintf(w, "soak: %d scrapers for %s against %d clusters (%d snapshots), faults on 1 cluster in 5 of every 15 projects\n",
		p.Scrapers, d, p.Projects*p.Clusters, p.Projects*p.Clusters*p.Snapshots)
	fmt.Fprintf(w, "scrapes: %d, failed: %d, slowest: %s (scrape timeout %s); refreshes: %d; API requests: %d\n",
		r.Scrapes, r.Failed, r.MaxLatency.Round(time.Millisecond), scrapeTimeout, r.Refreshes, r.Requests)
	fmt.Fprintf(w, "goroutines: %d before, %d after; peak heap: %.1f MiB; peak RSS: %.1f MiB\n",
		r.GoroutinesBefore, r.GoroutinesAfter, float64(r.HeapPeak)/(1<<20), float64(r.RSSPeakKiB)/1024)
}
