package atlas

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// onWire is the transport under authentication: it reports every HTTP request on the wire to
// the Observer (digest challenges and token requests included), counts those in flight, and
// keeps what their answers' Deprecation and Sunset headers say.
type onWire struct {
	next        http.RoundTripper
	obs         Observer
	credentials string
	heard       heard

	mu       sync.Mutex
	inflight int
	maxSeen  int // the most in flight at once, for the tests (MaxInFlight)
	sent     uint64
}

func (o *onWire) RoundTrip(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.inflight++
	o.sent++
	o.maxSeen = max(o.maxSeen, o.inflight)
	o.mu.Unlock()
	done := func() {
		o.mu.Lock()
		o.inflight--
		o.mu.Unlock()
	}
	start := time.Now()
	resp, err := o.next.RoundTrip(req)
	x := exchangeOf(req.Context())
	ev := RequestEvent{
		Operation: x.op, Credentials: o.credentials, Method: req.Method, Path: req.URL.EscapedPath(), Attempt: x.attempt, RetryOf: x.retryOf,
		Code: "error", Duration: time.Since(start),
	}
	if err != nil {
		done()
		ev.Error = errorClass(err)
		o.obs.ObserveRequest(ev)
		return nil, err
	}
	ev.Code = strconv.Itoa(resp.StatusCode)
	if v := resp.Header.Get("RateLimit-Remaining"); v != "" {
		if f, perr := strconv.ParseFloat(v, 64); perr == nil {
			ev.RateLimitRemaining, ev.HasRateLimit = f, true
		}
	}
	o.obs.ObserveRequest(ev)
	o.heard.record(req, resp)
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: done}
	return resp, nil
}

func (o *onWire) current() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inflight
}

func (o *onWire) total() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent
}

func (o *onWire) CloseIdleConnections() {
	if ci, ok := o.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// errorClass names what kind of failure kept a request from an answer.
func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case isTLSConfigError(err):
		return "tls"
	}
	return "network"
}
