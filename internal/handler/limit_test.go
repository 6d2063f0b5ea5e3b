package handler_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
)

// TestMaxRequests: with MaxRequests scrapes being served, one more is answered 503 at once,
// and counted as promhttp.InstrumentMetricHandler counts it; once one ends, scrapes are served
// again. The scrapes in flight are held where the handler gathers the exporter's own metrics.
func TestMaxRequests(t *testing.T) {
	_, e := server(t)
	// Each scrape held says so on started with the channel that releases it.
	started := make(chan chan struct{})
	held := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		release := make(chan struct{})
		started <- release
		<-release
		return e.Reg.Gather()
	})
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(promhttp.InstrumentMetricHandler(reg, handler.Metrics(held, e.Engine, e.Coll, log.NewNopLogger(),
		handler.Options{Offset: 500 * time.Millisecond, MaxTimeout: 10 * time.Second, MaxRequests: 2, Registry: reg})))
	t.Cleanup(srv.Close)
	get := func() (int, string) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	codes := make(chan int, 2)
	var releases []chan struct{}
	for range 2 {
		go func() {
			code, _ := get()
			codes <- code
		}()
		releases = append(releases, <-started)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || body != "Too many scrapes at once (--web.max-requests=2): try again later.\n" {
		t.Errorf("a third scrape: %d %q", code, body)
	}
	close(releases[0])
	if code := <-codes; code != 200 {
		t.Errorf("a held scrape: %d", code)
	}
	go func() { close(<-started) }()
	if code, _ := get(); code != 200 {
		t.Errorf("a scrape once one ended: %d", code)
	}
	close(releases[1])
	if code := <-codes; code != 200 {
		t.Errorf("the other held scrape: %d", code)
	}
	const want = `# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.
# TYPE promhttp_metric_handler_requests_total counter
promhttp_metric_handler_requests_total{code="200"} 3
promhttp_metric_handler_requests_total{code="500"} 0
promhttp_metric_handler_requests_total{code="503"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "promhttp_metric_handler_requests_total"); err != nil {
		t.Error(err)
	}
}

// TestHandlerErrors: a failure to gather the exporter's own metrics is counted in
// promhttp_metric_handler_errors_total{cause="gathering"}, as promhttp counts it, and what was
// gathered is still served.
func TestHandlerErrors(t *testing.T) {
	_, e := server(t)
	failing := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, _ := e.Reg.Gather()
		return mfs, errors.New("a collector failed")
	})
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(handler.Metrics(failing, e.Engine, e.Coll, log.NewNopLogger(),
		handler.Options{Offset: 500 * time.Millisecond, MaxTimeout: 10 * time.Second, Registry: reg}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "atlas_backup_exporter_api_requests_total") {
		t.Errorf("%d, own metrics served: %t", resp.StatusCode, strings.Contains(string(body), "atlas_backup_exporter_api_requests_total"))
	}
	const want = `# HELP promhttp_metric_handler_errors_total Total number of internal errors encountered by the promhttp metric handler.
# TYPE promhttp_metric_handler_errors_total counter
promhttp_metric_handler_errors_total{cause="encoding"} 0
promhttp_metric_handler_errors_total{cause="gathering"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
