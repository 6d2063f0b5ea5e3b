// Package handler serves /metrics: it refreshes the estate within the scrape's deadline and
// writes the exposition.
package handler

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Metrics returns the /metrics handler. A scrape waits for a refresh at most Prometheus's
// scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) less offset, and never more than max.
//
// A large estate renders to tens of megabytes, and many Prometheus servers scraping at once
// would each pay for rendering and compressing it. Gzipped answers (what Prometheus asks for)
// are therefore rendered once per second and data version and shared by the scrapes that ask
// meanwhile: the exporter's own counters may then be up to a second old.
func Metrics(reg prometheus.Gatherer, eng *estate.Engine, coll *collector.Collector, logger log.Logger, offset, max time.Duration) http.Handler {
	shared := &gzipCache{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ScrapeTimeout(r, offset, max))
		defer cancel()
		eng.Refresh(ctx)
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		if !gzipAccepted(r.Header.Get("Accept-Encoding")) {
			if err := WriteText(w, reg, coll); err != nil {
				level.Error(logger).Log("msg", "writing metrics", "err", err)
			}
			return
		}
		body, err := shared.get(time.Now(), eng.View().Version, func(out io.Writer) error { return WriteText(out, reg, coll) })
		if err != nil {
			level.Error(logger).Log("msg", "writing metrics", "err", err)
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// gzipCache holds the gzipped exposition of one second and one version of the estate's view.
type gzipCache struct {
	mu      sync.Mutex
	second  int64
	version uint64
	body    []byte
}

// get returns the gzipped output of render for now's second and the data's version, rendering
// it if no scrape has for both. Concurrent callers wait for one render.
func (c *gzipCache) get(now time.Time, version uint64, render func(io.Writer) error) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.body != nil && c.second == now.Unix() && c.version == version {
		return c.body, nil
	}
	var buf bytes.Buffer
	// Favour speed over ratio: the output is large and rendered often.
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	err := render(gz)
	if cerr := gz.Close(); err == nil {
		err = cerr
	}
	c.body, c.second, c.version = buf.Bytes(), now.Unix(), version
	return c.body, err
}

// ScrapeTimeout is Prometheus's scrape timeout less offset, capped at max, and max when
// Prometheus sent none.
func ScrapeTimeout(r *http.Request, offset, max time.Duration) time.Duration {
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return max
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s <= 0 {
		return max
	}
	d := time.Duration(s*float64(time.Second)) - offset
	if d > max {
		return max
	}
	if d < 100*time.Millisecond {
		return 100 * time.Millisecond
	}
	return d
}

func gzipAccepted(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(coding) == "gzip" && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// WriteText writes everything /metrics serves in the text exposition format: the families of
// reg (which holds coll and the exporter's own metrics), then coll's per-snapshot families. Like
// promhttp's ContinueOnError it writes what reg gathered even when gathering partly failed,
// and returns that error after.
func WriteText(w io.Writer, reg prometheus.Gatherer, coll *collector.Collector) error {
	mfs, gatherErr := reg.Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if err := coll.WriteSnapshotMetrics(w); err != nil {
		return err
	}
	return gatherErr
}
