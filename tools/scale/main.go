// Command scale measures a full refresh of a generated Atlas estate through the real client,
// fetcher, engine and collector, against the fake Atlas over loopback HTTP with per-request latency,
// and compares it with the ideal.
//
//	go run ./tools/scale -projects 200 -clusters 5 -snapshots 30 -latency 50ms -concurrency 16
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

var policyNames = map[atlastest.NoncePolicy]string{
	atlastest.ReplayCheck: "replay", atlastest.IncreasingCount: "increasing", atlastest.OneUse: "one-use", atlastest.Lockout: "lockout",
}

func main() {
	var p Params
	flag.IntVar(&p.Projects, "projects", 200, "projects in the estate")
	flag.IntVar(&p.Clusters, "clusters", 5, "clusters per project")
	flag.IntVar(&p.Snapshots, "snapshots", 30, "snapshots per cluster")
	flag.DurationVar(&p.Latency, "latency", 50*time.Millisecond, "latency the fake adds to every API request")
	flag.IntVar(&p.Concurrency, "concurrency", 16, "max_concurrency")
	flag.BoolVar(&p.Digest, "digest", false, "use an API key (digest) instead of a service account")
	flag.IntVar(&p.NonceUses, "nonce-uses", 0, "digest: requests per nonce before the fake answers stale=true (0: unlimited)")
	flag.Func("digest-policy", "digest: how the fake checks nonce counts: replay (a count seen before is refused), increasing (a count not above the last one is refused), one-use (a nonce serves one request), lockout (as nginx-http-auth-digest: nonces expire after first use, 19 counts, 5 failed logins in a row lock the address out)", func(v string) error {
		for pol, name := range policyNames {
			if name == v {
				p.NoncePolicy = pol
				return nil
			}
		}
		return fmt.Errorf("want replay, increasing, one-use or lockout")
	})
	flag.DurationVar(&p.NonceExpires, "nonce-expires", 10*time.Second, "digest, lockout policy: how long a nonce lives after its first use (the module's default: 10s)")
	flag.DurationVar(&p.Idle, "idle", 0, "real time to wait before the steady-state and jobs-due refreshes, as between refreshes (digest nonces age)")
	flag.IntVar(&p.PageCap, "page-cap", 0, "most items per page the fake returns (0: as asked)")
	flag.BoolVar(&p.SnapshotMetrics, "snapshot-metrics", true, "expose per-snapshot series")
	flag.BoolVar(&p.Schedules, "backup-schedules", true, "read Cloud Backup schedules")
	flag.BoolVar(&p.Jobs, "jobs", true, "read restore and export jobs and compliance policies")
	flag.DurationVar(&p.Timeout, "timeout", time.Minute, "the client's per-request timeout (atlas.timeout)")
	flag.DurationVar(&p.RefreshTimeout, "refresh-timeout", 10*time.Minute, "refresh_timeout")
	flag.BoolVar(&p.FinishAbandoned, "finish-abandoned", false, "the fake goes on serving a request its client gave up on until its latency has passed, as Atlas does")
	flag.IntVar(&p.Reloads, "reloads", 0, "rebuild the client this many times during the first refresh, as a reload changing a client setting does")
	flag.BoolVar(&p.Pause, "pause", false, "answer one Cloud Backup snapshot listing of the first project with 429 and Retry-After: 300")
	flag.StringVar(&p.HeapProfile, "heapprofile", "", "write the live heap at the end of the run to this file (go tool pprof)")
	flag.IntVar(&p.Scrapers, "scrapers", 1, "concurrent scrapes that trigger the refresh (with -soak: scrapers in the loop)")
	soakFor := flag.Duration("soak", 0, "instead: scrape the real /metrics handler with -scrapers clients for this long, with faults on")
	flag.IntVar(&p.Shards, "total-shards", 1, "with -rss: run this many exporter processes, one per shard")
	flag.BoolVar(&p.Storage, "storage", false, "with -rss: give each exporter process a state file (--storage.path), written after its first refresh")
	flag.IntVar(&p.Orgs, "orgs", 1, "deal the projects out to this many organisations, each read with a credential set of its own (sharing -concurrency)")
	churnFor := flag.Int("churn", 0, "instead: run this many refreshes, each against -projects new projects in place of the last ones, and report the live heap")
	hangOrg := flag.Bool("hang-org", false, "instead: read two organisations of -projects projects each with their own credential sets, sharing -concurrency, and time the first's refreshes alone and beside the second, whose Atlas hangs (pass a short -timeout, such as 2s: each hanging call lasts that long)")
	rss := flag.Int("rss", 0, "instead: build and run the exporter binary against the fake, and report its own RSS after the first refresh and after this many scrapes, and the CPU and time each scrape took")
	src := flag.String("src", "", "with -rss: build the exporter from the module in this directory (a checkout of another commit, to compare) instead of this one")
	flag.Parse()
	if *churnFor > 0 {
		r, err := churn(p, *churnFor)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.print(os.Stdout, p)
		return
	}
	if *hangOrg {
		r, err := orgsCompare(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.print(os.Stdout)
		return
	}
	if *rss > 0 {
		r, err := measureRSS(p, *rss, *src)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.print(os.Stdout)
		return
	}
	if *soakFor > 0 {
		r, err := soak(p, *soakFor, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r.print(os.Stdout, p, *soakFor, 5*time.Second)
		return
	}
	r, err := run(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r.print(os.Stdout)
}
