package collector

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// APIMetrics instruments the Atlas client: it implements atlas.Observer.
type APIMetrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	rateLimit *prometheus.GaugeVec
}

// NewAPIMetrics creates the client's metrics; register them with Register.
func NewAPIMetrics() *APIMetrics {
	return &APIMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "exporter", Name: "api_requests_total",
			Help: "HTTP requests sent to the Atlas API (digest challenges and token requests included), by operation and HTTP status code (\"error\" when no response arrived).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "exporter", Name: "api_request_duration_seconds",
			Help:    "Time from sending an Atlas API request to receiving its response headers.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "exporter", Name: "api_retries_total",
			Help: "Atlas API requests retried, by operation and reason (" + strings.Join(atlas.RetryReasons, ", ") + ").",
		}, []string{"operation", "reason"}),
		rateLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "exporter", Name: "api_rate_limit_remaining",
			Help: "Requests left in Atlas's rate-limit bucket, from the last RateLimit-Remaining header of the operation (absent until Atlas sends one).",
		}, []string{"operation"}),
	}
}

// Expect starts the retries of ops at zero, so that rate() and alerts see the first one: the
// operations the configuration can send (atlas.OperationsFor), each for the reasons it can be
// retried for (listing_shifted for paged listings only), rather than every operation the
// client knows. A reload calls it again with its own: what the configuration now sends gets
// its zeros; the series of what it no longer sends stay, as counters do.
func (m *APIMetrics) Expect(ops []atlas.Operation) {
	for _, op := range ops {
		for _, reason := range atlas.RetryReasons {
			if reason == atlas.RetryListingShifted && !op.Paged {
				continue
			}
			m.retries.WithLabelValues(op.Name, reason)
		}
	}
}

// Register registers the metrics, plus a gauge of the requests in flight read from inflight.
func (m *APIMetrics) Register(r prometheus.Registerer, inflight func() int) {
	r.MustRegister(m.requests, m.duration, m.retries, m.rateLimit,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "exporter", Name: "api_inflight_requests",
			Help: "Atlas API requests in flight now.",
		}, func() float64 { return float64(inflight()) }))
}

// ObserveRequest implements atlas.Observer.
func (m *APIMetrics) ObserveRequest(e atlas.RequestEvent) {
	m.requests.WithLabelValues(e.Operation, e.Code).Inc()
	m.duration.WithLabelValues(e.Operation).Observe(e.Duration.Seconds())
	if e.HasRateLimit {
		m.rateLimit.WithLabelValues(e.Operation).Set(e.RateLimitRemaining)
	}
}

// ObserveRetry implements atlas.Observer.
func (m *APIMetrics) ObserveRetry(operation, reason string) {
	m.retries.WithLabelValues(operation, reason).Inc()
}
