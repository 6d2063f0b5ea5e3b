package atlas

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// gate is the bound on HTTP requests in flight. It sits below the auth transports, so digest
// challenges and token requests count too, and it holds a slot only while a request is on the
// wire, never during a backoff.
type gate struct {
	sem  chan struct{}
	next http.RoundTripper
	obs  Observer

	mu       sync.Mutex
	inflight int
	maxSeen  int
}

func newGate(n int, next http.RoundTripper, obs Observer) *gate {
	return &gate{sem: make(chan struct{}, n), next: next, obs: obs}
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case g.sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	g.mu.Lock()
	g.inflight++
	g.maxSeen = max(g.maxSeen, g.inflight)
	g.mu.Unlock()
	release := func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
		<-g.sem
	}
	start := time.Now()
	resp, err := g.next.RoundTrip(req)
	ev := RequestEvent{Operation: operationOf(req.Context()), Code: "error", Duration: time.Since(start)}
	if err != nil {
		release()
		g.obs.ObserveRequest(ev)
		return nil, err
	}
	ev.Code = strconv.Itoa(resp.StatusCode)
	if v := resp.Header.Get("RateLimit-Remaining"); v != "" {
		if f, perr := strconv.ParseFloat(v, 64); perr == nil {
			ev.RateLimitRemaining, ev.HasRateLimit = f, true
		}
	}
	g.obs.ObserveRequest(ev)
	// The slot is freed when the body is closed, since reading it is part of the request.
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

func (g *gate) current() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight
}

func (g *gate) peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.maxSeen
}

func (g *gate) CloseIdleConnections() {
	if ci, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

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
