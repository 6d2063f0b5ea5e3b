// Command atlas_backup_exporter exports the health of MongoDB Atlas backup snapshots as
// Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
)

const exporterName = "atlas_backup_exporter"

// defaultAddress is the exporter's default port (9891).
const defaultAddress = ":9891"

func main() {
	var (
		configFile    = kingpin.Flag("config.file", "Configuration file.").Default("atlas_backup_exporter.yml").String()
		configCheck   = kingpin.Flag("config.check", "Validate the configuration file and exit.").Bool()
		metricsPath   = kingpin.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		timeoutOffset = kingpin.Flag("scrape.timeout-offset", "Subtracted from Prometheus's scrape timeout to leave time for rendering.").Default("500ms").Duration()
		maxTimeout    = kingpin.Flag("scrape.max-timeout", "Longest a scrape waits for a refresh of Atlas data; also used when Prometheus sends no timeout.").Default("25s").Duration()
		demo          = kingpin.Flag("demo", "Start an in-process fake Atlas with a generated estate and export it (no Atlas account needed; --config.file is ignored).").Bool()
		lifecycle     = kingpin.Flag("web.enable-lifecycle", "Enable reloading the configuration with POST /-/reload (SIGHUP always reloads).").Bool()
		secretCheck   = kingpin.Flag("config.secret-check-interval", "How often to read the secret files (*_file) again and reload when one changed, as on a Kubernetes secret rotation; also done whenever Atlas refuses the credentials. 0 turns the periodic check off.").Default("30s").Duration()
		readHeader    = kingpin.Flag("web.read-header-timeout", "Longest a client may take to send a request's headers.").Default("10s").Duration()
		idleTimeout   = kingpin.Flag("web.idle-timeout", "Longest an idle keep-alive connection is kept open.").Default("1m").Duration()
		maxRequests   = kingpin.Flag("web.max-requests", "Most /metrics requests served at once; one more is answered 503 Service Unavailable. 0: no limit.").Default("40").Int()
		noOwnMetrics  = kingpin.Flag("web.disable-exporter-metrics", "Leave the exporter's process_*, go_* and promhttp_* metrics out of /metrics.").Bool()
		shardSet      bool
		shardIndex    = kingpin.Flag("shard", "This replica's shard, from 0 to --total-shards - 1: it reads the projects whose id hashes to it.").Default("0").IsSetByUser(&shardSet).Int()
		totalShards   = kingpin.Flag("total-shards", "How many replicas share the estate, each reading one shard of the projects.").Default("1").Int()
		podName       = kingpin.Flag("shard.from-pod-name", "Take --shard from the ordinal that ends this StatefulSet pod name (pass $(POD_NAME) set from metadata.name).").String()
		storagePath   = kingpin.Flag("storage.path", "File keeping, across restarts, the ids and expiries of each Cloud Backup and serverless cluster's last snapshot listing, so that snapshots deleted early while the exporter was down still count (docs/tamper.md). Off when empty.").String()
		logLevel      = kingpin.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").Enum("debug", "info", "warn", "error")
		logFormat     = kingpin.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").Enum("logfmt", "json")
		toolkitFlags  = kingpinflag.AddFlags(kingpin.CommandLine, defaultAddress)
	)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fillVersion(bi)
	}
	kingpin.Version(version.Print(exporterName))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()

	logger, slogger := newLoggers(*logLevel, *logFormat)
	shard, err := shardFromFlags(*shardIndex, shardSet, *totalShards, *podName)
	if err != nil {
		level.Error(logger).Log("msg", "invalid sharding flags", "err", err)
		os.Exit(1)
	}
	if *configCheck {
		os.Exit(checkConfig(os.Stderr, *configFile, *toolkitFlags.WebConfigFile))
	}
	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext(),
		"shard", shard.Index, "total_shards", shard.Total)

	life, stop := context.WithCancel(context.Background())
	defer stop()
	load := func() (*config.Config, error) { return config.Load(*configFile) }
	if *demo {
		fake := startDemo(life, logger)
		defer fake.Close()
		load = func() (*config.Config, error) { return demoConfig(fake.URL) }
	}
	apiMetrics := collector.NewAPIMetrics()
	refused := make(chan struct{}, 1)
	settings := func(c *config.Config) estate.Settings {
		s := estate.SettingsFrom(c)
		s.Shard, s.StoragePath = shard, *storagePath
		return s
	}
	var obs atlas.Observer = apiMetrics
	if *logLevel == "debug" {
		obs = observers{apiMetrics, requestLog{logger}}
	}
	rl, err := newReloader(load, settings, refusalWatch{Observer: obs, kick: refused}, logger, func(src estate.Sources, s estate.Settings) *estate.Engine {
		return estate.New(life, logger, src, s, time.Now)
	})
	if err != nil {
		level.Error(logger).Log("msg", "invalid configuration", "err", err)
		os.Exit(1)
	}
	eng := rl.eng
	// The retries start at zero for the operations this configuration can send.
	expect := func(c *config.Config) { apiMetrics.Expect(atlas.OperationsFor(c.Reads())) }
	expect(rl.cfg)
	rl.applied = expect
	coll := collector.New(eng, time.Now)
	// Refresh once at start, so /-/ready turns true without waiting for the first scrape; render
	// each version of what it brings off the scrape path.
	go eng.Refresh(life)
	go coll.Run(life, eng.Changes())
	go rl.watchSecrets(life, *secretCheck, refused)

	reg := prometheus.NewRegistry()
	reg.MustRegister(coll, rl.success, rl.timestamp, versioncollector.NewCollector(exporterName))
	apiMetrics.Register(reg, rl.inFlight)

	mux := http.NewServeMux()
	mux.Handle(*metricsPath, metricsHandler(reg, eng, coll, logger, !*noOwnMetrics,
		handler.Options{Offset: *timeoutOffset, MaxTimeout: *maxTimeout, MaxRequests: *maxRequests}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !eng.Ready() {
			http.Error(w, "Not ready: the first refresh of Atlas data has not finished", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if !*lifecycle {
			http.Error(w, "Lifecycle API is not enabled (--web.enable-lifecycle); send SIGHUP to reload.", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		changed, err := rl.reload("POST /-/reload")
		switch {
		case err != nil:
			http.Error(w, "reload failed: "+err.Error(), http.StatusBadRequest)
		case !changed:
			fmt.Fprintln(w, "Configuration unchanged: nothing to reload")
		default:
			fmt.Fprintln(w, "Reloaded")
		}
	})
	if *metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "MongoDB Atlas Backup Exporter",
			Description: "Prometheus exporter for the health of MongoDB Atlas backup snapshots",
			Version:     version.Info(),
			// No pprof handlers are served, so no links to them.
			Profiling: "false",
			Links: []web.LandingLinks{
				{Address: *metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness"},
			},
		})
		if err != nil {
			level.Error(logger).Log("err", err)
			os.Exit(1)
		}
		mux.Handle("/", landing)
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: *readHeader, IdleTimeout: *idleTimeout}
	go handleSignals(logger, func() { _, _ = rl.reload("SIGHUP") }, func() {
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	if err := web.ListenAndServe(srv, toolkitFlags, slogger); err != nil && !errors.Is(err, http.ErrServerClosed) {
		level.Error(logger).Log("msg", "HTTP server failed", "err", err)
		os.Exit(1)
	}
	rl.close()
	level.Info(logger).Log("msg", "stopped")
}

// metricsHandler is the /metrics handler. With the exporter's metrics (as node_exporter's
// without --web.disable-exporter-metrics), reg also gets the Go and process collectors and the
// handler's own metrics, promhttp's: the scrapes by code and in flight
// (promhttp.InstrumentMetricHandler) and the handler's errors.
func metricsHandler(reg *prometheus.Registry, eng *estate.Engine, coll *collector.Collector, logger log.Logger, exporterMetrics bool, opts handler.Options) http.Handler {
	if !exporterMetrics {
		return handler.Metrics(reg, eng, coll, logger, opts)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts.Registry = reg
	return promhttp.InstrumentMetricHandler(reg, handler.Metrics(reg, eng, coll, logger, opts))
}

// checkConfig validates the configuration file and, when one is given, the web configuration
// file as exporter-toolkit will read it; it reports every problem of both, says the files are
// valid only when all of them are, and returns the exit code.
func checkConfig(w io.Writer, file, webFile string) int {
	var problems []string
	if _, err := config.Load(file); err != nil {
		problems = append(problems, err.Error())
	}
	if webFile != "" {
		if err := web.Validate(webFile); err != nil {
			problems = append(problems, fmt.Sprintf("%s: invalid web configuration: %v", webFile, err))
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, strings.Join(problems, "\n"))
		return 1
	}
	fmt.Fprintf(w, "%s is valid\n", file)
	if webFile != "" {
		fmt.Fprintf(w, "%s is valid\n", webFile)
	}
	return 0
}

// newLoggers builds the one go-kit logger and the slog bridge exporter-toolkit needs, both
// filtered by the same level.
func newLoggers(lvl, format string) (log.Logger, *slog.Logger) {
	var logger log.Logger
	if format == "json" {
		logger = log.NewJSONLogger(log.NewSyncWriter(os.Stderr))
	} else {
		logger = log.NewLogfmtLogger(log.NewSyncWriter(os.Stderr))
	}
	logger = log.With(logger, "ts", log.DefaultTimestampUTC)
	levels := map[string]struct {
		opt level.Option
		sl  slog.Level
	}{
		"debug": {level.AllowDebug(), slog.LevelDebug}, "info": {level.AllowInfo(), slog.LevelInfo},
		"warn": {level.AllowWarn(), slog.LevelWarn}, "error": {level.AllowError(), slog.LevelError},
	}
	l := levels[lvl]
	logger = level.NewFilter(logger, l.opt)
	return logger, slog.New(untimed{sloggokit.NewGoKitHandler(logger, l.sl)})
}

// untimed drops slog's own timestamp from a record: the go-kit logger under the bridge stamps
// ts on every line already, and two timestamps per line confuse log parsers.
type untimed struct{ slog.Handler }

func (h untimed) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}

func (h untimed) WithAttrs(attrs []slog.Attr) slog.Handler {
	return untimed{h.Handler.WithAttrs(attrs)}
}

func (h untimed) WithGroup(name string) slog.Handler { return untimed{h.Handler.WithGroup(name)} }

// fillVersion fills the version fields -ldflags left empty (plain `go build`, `go install
// …@version`) from the binary's build info: the module version and the commit time. The
// revision needs nothing: version.GetRevision already falls back to vcs.revision.
func fillVersion(bi *debug.BuildInfo) {
	if version.Version == "" {
		version.Version = strings.TrimPrefix(bi.Main.Version, "v")
	}
	if version.BuildDate != "" {
		return
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" {
			version.BuildDate = s.Value
		}
	}
}

// shardFromFlags checks the sharding flags and returns this replica's shard; indexSet says
// whether --shard was given at all (--shard=0 and --shard.from-pod-name contradict each other as
// much as --shard=1 does).
func shardFromFlags(index int, indexSet bool, total int, podName string) (estate.Shard, error) {
	if total < 1 {
		return estate.Shard{}, fmt.Errorf("--total-shards must be at least 1, got %d", total)
	}
	if podName != "" {
		if indexSet {
			return estate.Shard{}, errors.New("set --shard or --shard.from-pod-name, not both")
		}
		i := strings.LastIndexByte(podName, '-')
		n, err := strconv.Atoi(podName[i+1:])
		if i < 0 || err != nil || n < 0 {
			return estate.Shard{}, fmt.Errorf("--shard.from-pod-name: %q does not end in -<ordinal>, as a StatefulSet pod name does", podName)
		}
		index = n
	}
	if index < 0 || index >= total {
		return estate.Shard{}, fmt.Errorf("shard %d is outside 0 to %d (--total-shards=%d): change the replicas and --total-shards together", index, total-1, total)
	}
	return estate.Shard{Index: index, Total: total}, nil
}

func handleSignals(logger log.Logger, reload func(), shutdown func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	for s := range sig {
		if s == syscall.SIGHUP {
			reload()
			continue
		}
		level.Info(logger).Log("msg", "shutting down", "signal", s)
		shutdown()
		return
	}
}

// Demo credentials: the fake accepts these only, each for its organisation's projects.
const (
	demoClientID   = "demo-client"
	demoSecret     = "demo-secret"
	demoEUClientID = "demo-eu-client"
	demoEUSecret   = "demo-eu-secret"
)

// startDemo serves two organisations: billing holds project-001, eu-unit project-002; one
// cluster's backup policy breaks its project's compliance policy.
func startDemo(life context.Context, logger log.Logger) *atlastest.Server {
	est := atlastest.Generate(atlastest.Spec{Seed: 42, Projects: 2, ClustersPerProject: 8, SnapshotsPerCluster: 12, Orgs: 2})
	// project-001's compliance policy requires monthly snapshots kept 12 months; dedicated-01's
	// backup policy keeps them one month (AtlasBackupRetentionBelowPolicy).
	p := est.Projects[0]
	p.Compliance.Items = append(p.Compliance.Items, atlastest.PolicyItem{Frequency: "monthly", Interval: 40, RetentionUnit: "months", RetentionValue: 12})
	p.Cluster("dedicated-01").Policy[3].RetentionValue = 1
	fake := atlastest.NewServer(atlastest.Options{
		Estate: est, ClientID: demoClientID, ClientSecret: demoSecret, OrgName: "billing",
		Orgs:            []atlastest.Org{{ID: atlastest.OrgID(1), Name: "eu-unit", ClientID: demoEUClientID, ClientSecret: demoEUSecret}},
		Sunset:          map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone},
		ExpireSnapshots: true,
	})
	level.Info(logger).Log("msg", "demo mode: serving a fake Atlas", "url", fake.URL)
	go deleteOneEarly(life, fake)
	return fake
}

// deleteOneEarly deletes a snapshot of project-001's dedicated-01, not its newest, once the
// first refresh has listed both projects' replica set clusters: the next refresh shows it in
// atlas_backup_snapshots_deleted_early_total.
func deleteOneEarly(life context.Context, fake *atlastest.Server) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for fake.Count("listGroupClusterBackupSnapshots") < 2 {
		select {
		case <-tick.C:
		case <-life.Done():
			return
		}
	}
	fake.Update(func(e *atlastest.Estate) {
		c := e.Projects[0].Cluster("dedicated-01")
		c.DeleteSnapshots(c.Snapshots[1].ID)
	})
}

func demoConfig(baseURL string) (*config.Config, error) {
	raw := fmt.Sprintf(`atlas:
  base_url: %s
  service_account: {client_id: %s, client_secret: %s}
# A second organisation, read with its own service account.
credentials:
  eu-unit:
    service_account: {client_id: %s, client_secret: %s}
min_refresh_interval: 30s
projects:
  - discover_all_projects: true
  - discover_all_projects: true
    credentials: eu-unit
  # The shared-tier endpoint is sunset: this shows how the exporter reports it.
  - name: project-001
    clusters: [tenant-03]
    kinds: [tenant]
  # Legacy backup is never discovered: it must be named.
  - name: project-001
    clusters: [legacy-05]
    kinds: [legacy]
  # A cluster Atlas does not have: this shows atlas_backup_target_missing.
  - name: project-001
    clusters: [prod-db]
`, baseURL, demoClientID, demoSecret, demoEUClientID, demoEUSecret)
	return config.Parse("demo", []byte(raw), func(string) string { return "" })
}
