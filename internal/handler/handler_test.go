package handler

import (
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
