package main

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// reloader is the exporter's one reload path: SIGHUP, POST /-/reload (with
// --web.enable-lifecycle) and a changed secret file all go through it, one at a time. A reload
// whose configuration is unchanged changes nothing; one that keeps a credential set's host and
// credentials keeps that set's Atlas session (token, rate limiters and connections) and data.
type reloader struct {
	load     func() (*config.Config, error)
	settings func(*config.Config) estate.Settings
	logger   log.Logger
	obs      atlas.Observer
	// slots is the process's one bound on requests in flight to Atlas, shared by every client
	// a reload builds (credentials changed or not), resized to max_concurrency and divided
	// between the credential sets on reload.
	slots *atlas.Slots

	// applied, when set, is called with each configuration put in place by a reload.
	applied func(*config.Config)

	mu       sync.Mutex
	cfg      *config.Config
	sessions map[string]*session // per credential set ("" for the atlas section's)
	eng      *estate.Engine

	success, timestamp prometheus.Gauge
}

// session is one credential set's Atlas session: its client, holding the token or digest
// state, rate limiters and connections, and the fetcher reading through it.
type session struct {
	client  *atlas.Client
	fetcher *atlas.Fetcher
}

// newReloader loads the configuration, builds an Atlas session for each of its credential sets,
// and the engine reading through them with newEngine.
func newReloader(load func() (*config.Config, error), settings func(*config.Config) estate.Settings, obs atlas.Observer, logger log.Logger,
	newEngine func(estate.Sources, estate.Settings) *estate.Engine) (*reloader, error) {
	r := &reloader{
		load: load, settings: settings, logger: logger, obs: obs,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "atlas_backup", Subsystem: "exporter", Name: "config_last_reload_successful",
			Help: "1 if the last load of the configuration succeeded (at start or reload), 0 if it failed and the previous one still runs.",
		}),
		timestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "atlas_backup", Subsystem: "exporter", Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully.",
		}),
	}
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	r.slots = atlas.NewSlots(cfg.Atlas.MaxConcurrency)
	r.slots.Divide(cfg.Sets()...)
	r.sessions = map[string]*session{}
	for _, name := range cfg.Sets() {
		client, err := atlas.New(r.clientConfig(cfg, name))
		if err != nil {
			r.close()
			return nil, err
		}
		r.sessions[name] = &session{client, atlas.NewFetcher(client)}
	}
	r.cfg = cfg
	r.eng = newEngine(r.sources(), settings(cfg))
	r.loaded()
	return r, nil
}

// clientConfig is the configuration of credential set name's Atlas client under cfg.
func (r *reloader) clientConfig(cfg *config.Config, name string) atlas.Config {
	cc := cfg.ClientConfig(name)
	cc.Observer, cc.Slots = r.obs, r.slots
	cc.UserAgent = exporterName + "/" + version.Version
	return cc
}

// sources are the sessions' fetchers; r.mu must be held (or r not yet shared).
func (r *reloader) sources() estate.Sources {
	src := estate.Sources{}
	for name, s := range r.sessions {
		src[name] = s.fetcher
	}
	return src
}

// reload loads the configuration again and applies what changed; reason says what asked.
// changed is false when the configuration loaded is the running one: nothing was applied.
func (r *reloader) reload(reason string) (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed, renewed, err := r.apply()
	if err != nil {
		r.success.Set(0)
		level.Error(r.logger).Log("msg", "reload failed; keeping the running configuration", "reason", reason, "err", err)
		return false, err
	}
	r.loaded()
	if !changed {
		level.Info(r.logger).Log("msg", "configuration unchanged", "reason", reason)
		return false, nil
	}
	kv := []any{"msg", "configuration reloaded", "reason", reason, "atlas_session_kept", len(renewed) == 0}
	if r.cfg.Named() {
		kv = append(kv, "new_sessions", strings.Join(renewed, ","))
	}
	level.Info(r.logger).Log(kv...)
	return true, nil
}

// apply loads the configuration and puts what changed in place; r.mu must be held. renewed
// names the credential sets whose Atlas session (token, limiters, connections) did not stay:
// new credentials or host, or a new set.
func (r *reloader) apply() (changed bool, renewed []string, err error) {
	cfg, err := r.load()
	if err != nil || cfg.Equal(r.cfg) {
		return false, nil, err
	}
	next := map[string]*session{}
	var old, fresh []*atlas.Client // the clients of sessions that end, and of those that begin
	for _, name := range cfg.Sets() {
		prev, cc := r.sessions[name], r.clientConfig(cfg, name)
		if prev != nil && sameClient(cfg, r.cfg, name) {
			next[name] = prev
			continue
		}
		var prevClient *atlas.Client
		if prev != nil && cfg.SameConnection(r.cfg) {
			// A new connection (TLS, proxy) is a new session: the old one's connections and
			// transport go with it.
			prevClient = prev.client
		}
		client, kept, err := atlas.NewFrom(prevClient, cc)
		if err != nil {
			for _, c := range fresh {
				c.Close()
			}
			return false, nil, err
		}
		if kept {
			prev.fetcher.Use(client)
			next[name] = &session{client, prev.fetcher}
			continue
		}
		next[name] = &session{client, atlas.NewFetcher(client)}
		fresh = append(fresh, client)
		renewed = append(renewed, config.SetName(name))
		if prev != nil {
			old = append(old, prev.client)
		}
	}
	for name, s := range r.sessions {
		if next[name] == nil {
			old = append(old, s.client)
		}
	}
	// Calls of the old clients still in flight keep their slots: a smaller bound makes new
	// calls wait until fewer than it remain.
	r.slots.Resize(cfg.Atlas.MaxConcurrency)
	r.slots.Divide(cfg.Sets()...)
	r.cfg, r.sessions = cfg, next
	r.eng.Reconfigure(r.sources(), r.settings(cfg))
	if r.applied != nil {
		r.applied(cfg)
	}
	for _, c := range old {
		c.Close()
	}
	return true, renewed, nil
}

// sameClient reports whether credential set name's client is the same under a and b: the
// same settings and credentials, and the same connection (compared as the configuration states
// it, since the connection built from it holds functions).
func sameClient(a, b *config.Config, name string) bool {
	x, y := a.ClientConfig(name), b.ClientConfig(name)
	x.Connection, y.Connection = atlas.Connection{}, atlas.Connection{}
	return reflect.DeepEqual(x, y) && a.SameConnection(b)
}

// loaded records a successful load of the configuration.
func (r *reloader) loaded() {
	r.success.Set(1)
	r.timestamp.SetToCurrentTime()
}

// inFlight is the running clients' requests in flight.
func (r *reloader) inFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sessions {
		n += s.client.InFlight()
	}
	return n
}

func (r *reloader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sessions {
		s.client.Close()
	}
}

// watchSecrets reads the running configuration's secret files every interval (0: never), and
// once whenever kick fires (Atlas refused the credentials), and reloads when one no longer
// holds the secret in use: a rotated Kubernetes secret takes effect without a SIGHUP.
func (r *reloader) watchSecrets(ctx context.Context, interval time.Duration, kick <-chan struct{}) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		reason := "secret file changed"
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-kick:
			reason = "secret file changed after Atlas refused the credentials"
		}
		if key := r.changedSecret(); key != "" {
			level.Info(r.logger).Log("msg", "secret file changed; reloading", "key", key)
			_, _ = r.reload(reason)
		}
	}
}

// changedSecret names the key of a secret file (of any credential set) whose content differs
// from the secret in use, or returns "".
func (r *reloader) changedSecret() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.cfg.SecretFiles() {
		// An unreadable file is left to the next reload to report.
		if s, err := config.ReadSecretFile(f.File); err == nil && s != f.Secret {
			return f.Key
		}
	}
	return ""
}

// refusalWatch passes every request event on, and kicks the secret watcher when Atlas (or its
// token endpoint) refuses the credentials.
type refusalWatch struct {
	atlas.Observer
	kick chan struct{}
}

func (w refusalWatch) ObserveRequest(e atlas.RequestEvent) {
	w.Observer.ObserveRequest(e)
	if e.Code == "401" {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}
