package deploy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// formatJob is a scrape job of TestFormatsUnderPrometheus: how Prometheus is told to ask, what
// it asks, and what the exporter answers.
type formatJob struct {
	name      string
	protocols string // scrape_protocols; "" for the release's default
	accept    string
	served    string // Content-Type
}

// formatJobs are the jobs each Prometheus release runs. Prometheus 2.42 has no
// scrape_protocols; every Prometheus accepts */* last, so none is refused.
func formatJobs(major string) []formatJob {
	if major == "2" {
		return []formatJob{{name: "default",
			accept: "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
			served: "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"}}
	}
	return []formatJob{
		{name: "default",
			accept: "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6," +
				"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3",
			served: "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"},
		// What native histograms ask for: protobuf first, which the exporter does not serve.
		{name: "proto", protocols: "[PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4]",
			accept: "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7," +
				"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4",
			served: "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"},
		{name: "text", protocols: "[PrometheusText0.0.4]", accept: "text/plain;version=0.0.4;q=0.7,*/*;q=0.6",
			served: "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"},
	}
}

// exchange is what a scrape asked and was answered.
type exchange struct{ accept, encoding, contentType, contentEncoding string }

// recordingProxy passes /<release>/<job>/metrics to the exporter's /metrics, and records the
// exchanges of each release and job.
type recordingProxy struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	seen  map[string]exchange // by "<release>/<job>"
}

func newRecordingProxy(target string) *recordingProxy {
	u, _ := url.Parse(target)
	p := &recordingProxy{seen: map[string]exchange{}}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.URL.Path = "/metrics"
		},
		ModifyResponse: func(resp *http.Response) error {
			in := resp.Request
			key := strings.TrimSuffix(strings.TrimPrefix(in.Header.Get("X-Recorded-Path"), "/"), "/metrics")
			p.mu.Lock()
			p.seen[key] = exchange{accept: in.Header.Get("Accept"), encoding: in.Header.Get("Accept-Encoding"),
				contentType: resp.Header.Get("Content-Type"), contentEncoding: resp.Header.Get("Content-Encoding")}
			p.mu.Unlock()
			return nil
		},
	}
	return p
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Header.Set("X-Recorded-Path", r.URL.Path)
	p.proxy.ServeHTTP(w, r)
}

func (p *recordingProxy) exchange(key string) (exchange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.seen[key]
	return e, ok
}

// TestFormatsUnderPrometheus: every Prometheus release the tests know scrapes the exporter as
// it does by default (OpenMetrics first) and, Prometheus 3, asking for protobuf first (native
// histograms) and for the text format alone. A proxy between them records what each asks
// (the exact Accept headers of these releases) and what it is served; every job ingests every
// series: the same count of atlas_backup_ series, the Go collector's alloc gauge and counter
// both (one family name in OpenMetrics, client_golang#829).
func TestFormatsUnderPrometheus(t *testing.T) {
	releases := testenv.Prometheuses(t)
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel()
	est := atlastest.Generate(atlastest.Spec{Seed: 11, Projects: 1, ClustersPerProject: 8, SnapshotsPerCluster: 4})
	fake := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "e2e", ClientSecret: "e2e-secret", Retirements: listingSunsetIn30Days()})
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yml")
	writeFile(t, cfg, fmt.Sprintf("atlas:\n  base_url: %s\n  service_account: {client_id: e2e, client_secret: e2e-secret}\nmin_refresh_interval: 1h\nprojects:\n  - discover_all_projects: true\n", fake.URL))
	exp := startExporter(t, "--config.file="+cfg)
	rec := newRecordingProxy(exp.url)
	proxy := httptest.NewServer(rec)
	t.Cleanup(proxy.Close)

	type prom struct {
		release testenv.Prometheus
		api     string
	}
	var proms []prom
	for _, r := range releases {
		pdir := filepath.Join(dir, "prometheus-"+r.Version)
		if err := os.Mkdir(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		var jobs strings.Builder
		for _, j := range formatJobs(r.Major()) {
			fmt.Fprintf(&jobs, "  - job_name: %s\n    metrics_path: /%s/%s/metrics\n    static_configs: [{targets: [%q]}]\n", j.name, r.Version, j.name, strings.TrimPrefix(proxy.URL, "http://"))
			if j.protocols != "" {
				fmt.Fprintf(&jobs, "    scrape_protocols: %s\n", j.protocols)
			}
		}
		writeFile(t, filepath.Join(pdir, "prometheus.yml"), "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"+jobs.String())
		addr := testenv.FreeAddr(t)
		startProcess(t, r.Prometheus, "--config.file="+filepath.Join(pdir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(pdir, "data"),
			"--web.listen-address="+addr)
		proms = append(proms, prom{release: r, api: "http://" + addr + "/api/v1/"})
	}

	want := -1.0
	for _, p := range proms {
		for _, j := range formatJobs(p.release.Major()) {
			name := fmt.Sprintf("Prometheus %s, job %s", p.release.Version, j.name)
			count := fmt.Sprintf(`count({job=%q, __name__=~"atlas_backup_.+"})`, j.name)
			waitFor(t, 60*time.Second, name+" to scrape", func() bool {
				v := queryValues(p.api, fmt.Sprintf(`up{job=%q}`, j.name))
				return len(v) == 1 && v[0] == 1 && len(queryValues(p.api, count)) == 1
			})
			got := queryValues(p.api, count)[0]
			if want < 0 {
				want = got
			}
			if got != want || got < 100 {
				t.Errorf("%s: %v atlas_backup_ series, want %v (the first job's)", name, got, want)
			}
			for _, q := range []string{`atlas_backup_up{job=%q}`, `go_memstats_alloc_bytes{job=%q}`, `go_memstats_alloc_bytes_total{job=%q}`,
				`atlas_backup_exporter_api_request_duration_seconds_count{job=%q,operation="listGroups"}`} {
				if v := queryValues(p.api, fmt.Sprintf(q, j.name)); len(v) != 1 {
					t.Errorf("%s: %s: %v", name, fmt.Sprintf(q, j.name), v)
				}
			}
			e, ok := rec.exchange(p.release.Version + "/" + j.name)
			if !ok || e.accept != j.accept || e.contentType != j.served || e.encoding != "gzip" || e.contentEncoding != "gzip" {
				t.Errorf("%s: asked Accept %q, Accept-Encoding %q; served %q, %q\nwant Accept %q, served %q, gzip", name, e.accept, e.encoding, e.contentType, e.contentEncoding, j.accept, j.served)
			}
		}
	}
}
