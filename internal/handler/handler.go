// Package handler serves /metrics: it refreshes the collector within the scrape's deadline and
// writes the exposition.
package handler

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
)

// Metrics returns the /metrics handler. A scrape waits for a refresh at most Prometheus's
// scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) less offset, and never more than max.
func Metrics(reg prometheus.Gatherer, coll *collector.Collector, logger log.Logger, offset, max time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ScrapeTimeout(r, offset, max))
		defer cancel()
		coll.Refresh(ctx)
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		var out io.Writer = w
		if gzipAccepted(r.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			// Large estates render tens of megabytes: favour speed over ratio.
			gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			defer gz.Close()
			out = gz
		}
		if err := collector.WriteText(out, reg, coll); err != nil {
			level.Error(logger).Log("msg", "writing metrics", "err", err)
		}
	})
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
