package registry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the registry's Prometheus collectors. A nil *Metrics is valid
// and counts nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	pushed   prometheus.Counter
	pulled   prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_requests_total", Help: "Registry API requests by route kind, method and status.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cairn_http_request_duration_seconds", Help: "Registry API request latency by route kind.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		pushed: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_blob_bytes_pushed_total", Help: "Blob bytes received."}),
		pulled: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_blob_bytes_pulled_total", Help: "Blob bytes sent."}),
	}
	reg.MustRegister(m.requests, m.duration, m.pushed, m.pulled)
	return m
}

func (m *Metrics) addPushed(n int64) {
	if m != nil && n > 0 {
		m.pushed.Add(float64(n))
	}
}

func (m *Metrics) addPulled(n int64) {
	if m != nil && n > 0 {
		m.pulled.Add(float64(n))
	}
}

// Middleware wraps h to count its requests.
func (m *Metrics) Middleware(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, req)
		kind := "other"
		if rt, ok := parseRoute(req.URL.EscapedPath()); ok {
			kind = rt.kind
		}
		m.requests.WithLabelValues(kind, req.Method, strconv.Itoa(sw.code)).Inc()
		m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	})
}

// statusWriter records the status code. Unwrap keeps ResponseController
// (read deadlines) working through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
