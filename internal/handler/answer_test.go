package handler_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv/rig"
)

// What Prometheus asks for (Accept headers from their scrape code, and as the end-to-end tests
// record them).
const (
	// Prometheus 3 by default: OpenMetrics first, UTF-8 names allowed.
	prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
	// Prometheus 3 with native histograms (scrape_protocols: [PrometheusProto, ...]).
	prometheus3Proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	// Prometheus 3 with scrape_protocols: [PrometheusText0.0.4].
	prometheus3Text = "text/plain;version=0.0.4;q=0.7,*/*;q=0.6"
	// Prometheus 3 with scrape_protocols: [PrometheusProto] alone.
	prometheus3ProtoOnly = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,*/*;q=0.6"
	// Prometheus 2.42.
	prometheus2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

func TestNegotiate(t *testing.T) {
	const (
		om   = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
		text = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
	)
	for _, tc := range []struct{ accept, want string }{
		{prometheus3, "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"},
		{prometheus3Proto, "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"},
		{prometheus3Text, text},
		{prometheus3ProtoOnly, text},
		{prometheus2, om},
		{"application/openmetrics-text;version=0.0.1", "application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=underscores"},
		{"", text},
		{"*/*", text},
		{"application/json", text},
		// Protobuf alone is declined, not answered in another format.
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", ""},
	} {
		h := http.Header{}
		if tc.accept != "" {
			h.Set("Accept", tc.accept)
		}
		f, ok := handler.Negotiate(h)
		if got := string(f); !ok && tc.want != "" || ok && got != tc.want {
			t.Errorf("Accept %q: %q (served: %t), want %q", tc.accept, got, ok, tc.want)
		}
	}
}

// server serves /metrics for a small estate, with the exporter's own metrics of every type.
// (Not the Go collector's: its go_memstats_alloc_bytes gauge and go_memstats_alloc_bytes_total
// counter are one family name in OpenMetrics, which a strict parser refuses and Prometheus
// takes as two: client_golang#829.)
func server(t *testing.T) (*httptest.Server, *rig.Env) {
	t.Helper()
	est := atlastest.Generate(atlastest.Spec{Seed: 3, Projects: 1, ClustersPerProject: 3, SnapshotsPerCluster: 2, Now: rig.Now})
	s := rig.DefaultSettings()
	s.Projects = []config.Project{{DiscoverAllProjects: true}}
	e := rig.New(t, atlastest.Options{Estate: est}, s)
	e.Refresh(t)
	api := collector.NewAPIMetrics()
	api.Register(e.Reg, func() int { return 0 })
	api.Expect(atlas.OperationsFor(atlas.Reads{Kinds: atlas.DiscoveredKinds, ProjectListing: true}))
	api.ObserveRequest(atlas.RequestEvent{Operation: "listGroups", Code: "200", Duration: time.Second})
	e.Reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(handler.Metrics(e.Reg, e.Engine, e.Coll, log.NewNopLogger(), handler.Options{Offset: 500 * time.Millisecond, MaxTimeout: 10 * time.Second}))
	t.Cleanup(srv.Close)
	return srv, e
}

// TestAnswers: every format is served, gzipped or not, as one exposition the format's parser
// reads (no family twice or interleaved between the rendered data and the metrics gathered
// per scrape), with the content type promhttp gives; the gzipped answer is the data's members
// as rendered, then one member more.
func TestAnswers(t *testing.T) {
	srv, e := server(t)
	for _, accept := range []string{prometheus3, prometheus2, prometheus3Text, ""} {
		for _, gz := range []bool{true, false} {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			if gz {
				req.Header.Set("Accept-Encoding", "gzip")
			} else {
				req.Header.Set("Accept-Encoding", "identity")
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			format, _ := handler.Negotiate(req.Header)
			name := accept + " gzip=" + map[bool]string{true: "yes", false: "no"}[gz]
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != string(format) ||
				strings.Join(resp.Header.Values("Vary"), ",") != "Accept,Accept-Encoding" {
				t.Fatalf("%s: %d %v", name, resp.StatusCode, resp.Header)
			}
			plain := raw
			if gz {
				if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Length") != strconv.Itoa(len(raw)) {
					t.Errorf("%s: headers %v for %d bytes", name, resp.Header, len(raw))
				}
				plain = gunzip(t, raw)
				f := collector.Text
				if format.FormatType() == expfmt.TypeOpenMetrics {
					f = collector.OpenMetrics
				}
				var members bytes.Buffer
				if err := e.Coll.Exposition(t.Context(), false).WriteGzip(&members, f); err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(raw, members.Bytes()) {
					t.Errorf("%s: the answer does not begin with the rendered members", name)
				}
			} else if resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s: Content-Encoding %q", name, resp.Header.Get("Content-Encoding"))
			}
			if format.FormatType() == expfmt.TypeOpenMetrics && !(accept == prometheus3 && gz) {
				// OpenMetrics's decoder parses by grammar, slowly: once is enough; the others
				// hold the same data, and end as OpenMetrics does.
				if !bytes.Contains(plain, []byte("\natlas_backup_up 1\n")) || !bytes.HasSuffix(plain, []byte("\n# EOF\n")) {
					t.Errorf("%s: not the same answer", name)
				}
				continue
			}
			families := decode(t, name, format, plain)
			for _, want := range []string{"atlas_backup_up", "atlas_backup_snapshot_status", "atlas_backup_exporter_last_render_duration_seconds",
				"atlas_backup_exporter_api_retries_total", "atlas_backup_exporter_api_request_duration_seconds", "process_start_time_seconds"} {
				if families[want] == nil {
					t.Errorf("%s: no %s", name, want)
				}
			}
			if format.FormatType() == expfmt.TypeTextPlain {
				testenv.CheckMetrics(t, string(plain))
			}
		}
	}
}

// TestProtobufAloneIsNotAcceptable: a client that takes only the protobuf format is told so;
// no refresh starts for it.
func TestProtobufAloneIsNotAcceptable(t *testing.T) {
	srv, e := server(t)
	before := e.Srv.Count("")
	e.Clock.Advance(time.Hour)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", expfmt.ProtoType+";proto="+expfmt.ProtoProtocol+";encoding=delimited")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(string(body), "not the protobuf format") {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	if n := e.Srv.Count("") - before; n != 0 {
		t.Errorf("a refused scrape sent %d requests to Atlas", n)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decode parses an answer with expfmt's decoder of its format, and returns its families by
// name; a family twice is an error (the text parser's second HELP, OpenMetrics's interleaving).
func decode(t *testing.T, name string, format expfmt.Format, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	out := map[string]*dto.MetricFamily{}
	if format.FormatType() == expfmt.TypeTextPlain {
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return fams
	}
	dec := expfmt.NewDecoder(bytes.NewReader(b), format)
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if out[mf.GetName()] != nil {
			t.Fatalf("%s: %s twice", name, mf.GetName())
		}
		out[mf.GetName()] = mf
	}
}
