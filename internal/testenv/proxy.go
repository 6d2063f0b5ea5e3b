package testenv

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// ConnectProxy is an HTTP proxy on loopback that tunnels every CONNECT to one upstream address,
// whatever host it names (so a test can give Atlas's host a name only the proxy reaches), and
// counts the tunnels it opened. It answers any other method 405.
type ConnectProxy struct {
	URL string

	upstream string
	srv      *httptest.Server
	wg       sync.WaitGroup

	mu      sync.Mutex
	hosts   []string      // the host:port each CONNECT named, in order
	headers []http.Header // each CONNECT's headers
	conns   []net.Conn
	closed  bool
}

// NewConnectProxy starts a proxy tunnelling to upstream (host:port); the test's cleanup stops
// it and closes its tunnels.
func NewConnectProxy(t testing.TB, upstream string) *ConnectProxy {
	p := &ConnectProxy{upstream: upstream}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	t.Cleanup(func() {
		p.srv.Close()
		p.mu.Lock()
		p.closed = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *ConnectProxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		up.Close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		up.Close()
		down.Close()
		return
	}
	p.hosts = append(p.hosts, r.Host)
	p.headers = append(p.headers, r.Header.Clone())
	p.conns = append(p.conns, up, down)
	p.wg.Add(2) // under mu: never after the cleanup's Wait began
	p.mu.Unlock()
	_, _ = down.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n"))
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(up, buf) // what the client sent after the CONNECT, buffered or not
		up.Close()
	}()
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(down, up)
		down.Close()
	}()
}

// Tunnels returns the host:port each tunnel opened so far was asked for, in order.
func (p *ConnectProxy) Tunnels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

// Headers returns the headers of each tunnel's CONNECT request, in order.
func (p *ConnectProxy) Headers() []http.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]http.Header(nil), p.headers...)
}
