package handler

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestScrapeTimeout(t *testing.T) {
	cases := []struct {
		header string
		want   time.Duration
	}{
		{"", 25 * time.Second},
		{"10", 9500 * time.Millisecond},
		{"2.5", 2 * time.Second},
		{"120", 25 * time.Second},
		{"0.3", 100 * time.Millisecond},
		{"nonsense", 25 * time.Second},
		{"-4", 25 * time.Second},
	}
	for _, tc := range cases {
		r, _ := http.NewRequest("GET", "/metrics", nil)
		if tc.header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		if got := ScrapeTimeout(r, 500*time.Millisecond, 25*time.Second); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestGzipAccepted(t *testing.T) {
	for h, want := range map[string]bool{
		"gzip": true, "deflate, gzip;q=1.0, *;q=0.5": true, "gzip;q=0": false, "identity": false, "": false, " gzip ; q=0.8": true,
	} {
		if got := gzipAccepted(h); got != want {
			t.Errorf("%q: %v", h, got)
		}
	}
}

func TestGzipCacheRendersOncePerSecond(t *testing.T) {
	var c gzipCache
	renders := 0
	render := func(w io.Writer) error {
		renders++
		_, err := fmt.Fprintf(w, "render %d\n", renders)
		return err
	}
	t0 := time.Unix(1000, 0)
	a, _ := c.get(t0, 1, render)
	b, _ := c.get(t0.Add(900*time.Millisecond), 1, render)
	d, _ := c.get(t0.Add(time.Second), 1, render)
	if renders != 2 || !bytes.Equal(a, b) || bytes.Equal(a, d) {
		t.Fatalf("%d renders", renders)
	}
	// New data is rendered at once.
	if e, _ := c.get(t0.Add(time.Second), 2, render); renders != 3 || bytes.Equal(d, e) {
		t.Fatalf("%d renders after the data changed", renders)
	}
	zr, err := gzip.NewReader(bytes.NewReader(d))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != "render 2\n" {
		t.Errorf("got %q", plain)
	}
}
