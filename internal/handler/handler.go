// Package handler serves /metrics: it refreshes the estate within the scrape's deadline and
// writes the exposition in the format the scraper asks for.
package handler

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/munnerz/goautoneg"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Options configure the /metrics handler.
type Options struct {
	// A scrape waits for a refresh at most Prometheus's scrape timeout
	// (X-Prometheus-Scrape-Timeout-Seconds) less Offset, and never more than MaxTimeout.
	Offset, MaxTimeout time.Duration
	// MaxRequests is the most scrapes served at once: one more is answered 503 at once, as
	// promhttp's MaxRequestsInFlight does. 0: no limit.
	MaxRequests int
	// Registry, when set, gets promhttp_metric_handler_errors_total{cause}, counting what
	// promhttp's handler counts: gathering the exporter's own metrics failed, or encoding and
	// sending the answer did.
	Registry prometheus.Registerer
}

// Metrics returns the /metrics handler.
//
// An answer is two parts. The data (everything the estate's view determines) is rendered and
// compressed once per version of the view, off the scrape path (collector.Exposition), and
// written as it is: a scrape between refreshes costs what copying its bytes costs. Then the
// exporter's own metrics of reg (the client's requests, reloads, process and Go metrics),
// gathered and compressed at each scrape; each gzip member follows the last, which gzip
// readers read as one stream. A family is in one part only, so each is written once.
func Metrics(reg prometheus.Gatherer, eng *estate.Engine, coll *collector.Collector, logger log.Logger, opts Options) http.Handler {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promhttp_metric_handler_errors_total",
		Help: "Total number of internal errors encountered by the promhttp metric handler.",
	}, []string{"cause"})
	gathering, encoding := errs.WithLabelValues("gathering"), errs.WithLabelValues("encoding")
	if opts.Registry != nil {
		opts.Registry.MustRegister(errs)
	}
	var inFlight chan struct{}
	if opts.MaxRequests > 0 {
		inFlight = make(chan struct{}, opts.MaxRequests)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight != nil {
			select {
			case inFlight <- struct{}{}:
				defer func() { <-inFlight }()
			default:
				http.Error(w, fmt.Sprintf("Too many scrapes at once (--web.max-requests=%d): try again later.", opts.MaxRequests), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Accept-Encoding")
		format, ok := Negotiate(r.Header)
		if !ok {
			http.Error(w, "Not Acceptable: /metrics is served in the text format (text/plain; version=0.0.4) and OpenMetrics (application/openmetrics-text; version=1.0.0 or 0.0.1), not the protobuf format", http.StatusNotAcceptable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), ScrapeTimeout(r, opts.Offset, opts.MaxTimeout))
		defer cancel()
		eng.Refresh(ctx)
		body := coll.Exposition(ctx, false)
		if body == nil {
			http.Error(w, errNotRendered.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", string(format))
		f := dataFormat(format)
		var gatherErr, writeErr error
		if gzipAccepted(r.Header.Get("Accept-Encoding")) {
			var own []byte
			own, gatherErr, writeErr = ownGzip(reg, format)
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", strconv.Itoa(body.Size(f)+len(own)))
			if werr := body.WriteGzip(w, f); werr != nil {
				writeErr = werr
			} else if _, werr := w.Write(own); werr != nil {
				writeErr = werr
			}
		} else {
			gatherErr, writeErr = write(w, format, body, reg)
		}
		if gatherErr != nil {
			gathering.Inc()
			level.Error(logger).Log("msg", "gathering the exporter's own metrics", "err", gatherErr)
		}
		if writeErr != nil {
			encoding.Inc()
			level.Error(logger).Log("msg", "writing metrics", "err", writeErr)
		}
	})
}

// errNotRendered is what a scrape gets when its deadline passed before the first render ended.
var errNotRendered = errors.New("the data is not rendered yet: the first render did not end within the scrape's deadline")

// offered are the formats served, in the order a scraper that accepts several is given them
// (as promhttp with OpenMetrics on, less the protobuf format).
var offered = []expfmt.Format{expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtOpenMetrics_0_0_1, expfmt.FmtText}

// Negotiate picks the format of the answer from the Accept header, as promhttp does with
// expfmt: the first of the client's preferences served, the text format when none is (or no
// Accept header came). The protobuf format is not served: the data's bytes are kept in the
// text formats only, and every Prometheus that asks for protobuf accepts them too. A client
// that accepts protobuf alone gets false (406 Not Acceptable).
func Negotiate(h http.Header) (expfmt.Format, bool) {
	accepts := goautoneg.ParseAccept(h.Get("Accept"))
	protobufOnly := len(accepts) > 0
	for _, a := range accepts {
		protobufOnly = protobufOnly && a.Type+"/"+a.SubType == expfmt.ProtoType
	}
	return expfmt.NegotiateAccept(h, offered...), !protobufOnly
}

// dataFormat is the collector's format for a negotiated one.
func dataFormat(f expfmt.Format) collector.Format {
	if f.FormatType() == expfmt.TypeOpenMetrics {
		return collector.OpenMetrics
	}
	return collector.Text
}

// gzipWriters are reused across scrapes: a writer holds a few hundred KiB of buffers.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// ownGzip is reg's families in format, as one gzip member. Like promhttp's ContinueOnError it
// encodes what reg gathered even when gathering partly failed, and returns that error apart
// from one of encoding.
func ownGzip(reg prometheus.Gatherer, format expfmt.Format) (member []byte, gatherErr, encodeErr error) {
	var buf bytes.Buffer
	gz := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(gz)
	gz.Reset(&buf)
	gatherErr, encodeErr = writeOwn(gz, reg, format)
	if cerr := gz.Close(); encodeErr == nil {
		encodeErr = cerr
	}
	return buf.Bytes(), gatherErr, encodeErr
}

// writeOwn writes reg's families in format, and for OpenMetrics the # EOF that ends the
// answer.
func writeOwn(w io.Writer, reg prometheus.Gatherer, format expfmt.Format) (gatherErr, writeErr error) {
	mfs, gatherErr := reg.Gather()
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return gatherErr, err
		}
	}
	return gatherErr, enc.(expfmt.Closer).Close()
}

// write writes the whole answer in format, uncompressed: the data, then reg's families.
func write(w io.Writer, format expfmt.Format, body *collector.Body, reg prometheus.Gatherer) (gatherErr, writeErr error) {
	if body == nil {
		return nil, errNotRendered
	}
	if err := body.WritePlain(w, dataFormat(format)); err != nil {
		return nil, err
	}
	return writeOwn(w, reg, format)
}

// WriteExposition writes what /metrics serves in format, uncompressed: coll's newest version,
// rendered first if it is not yet, then reg's families.
func WriteExposition(ctx context.Context, w io.Writer, format expfmt.Format, coll *collector.Collector, reg prometheus.Gatherer) error {
	gatherErr, writeErr := write(w, format, coll.Exposition(ctx, true), reg)
	return errors.Join(gatherErr, writeErr)
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
