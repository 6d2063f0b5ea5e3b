package main

import (
	"context"
	"reflect"
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
// whose configuration is unchanged changes nothing; one that keeps the host and credentials
// keeps the Atlas client's token, rate limiters and connections, and the engine's data.
type reloader struct {
	load     func() (*config.Config, error)
	settings func(*config.Config) estate.Settings
	logger   log.Logger
	obs      atlas.Observer
	// slots is the process's one bound on requests in flight to Atlas, shared by every client
	// a reload builds (credentials changed or not) and resized to max_concurrency on reload.
	slots *atlas.Slots

	mu      sync.Mutex
	cfg     *config.Config
	client  *atlas.Client
	fetcher *atlas.Fetcher
	eng     *estate.Engine

	success, timestamp prometheus.Gauge
}

// newReloader loads the configuration, builds the Atlas client for it, and the engine reading
// through it with newEngine.
func newReloader(load func() (*config.Config, error), settings func(*config.Config) estate.Settings, obs atlas.Observer, logger log.Logger,
	newEngine func(estate.Fetcher, estate.Settings) *estate.Engine) (*reloader, error) {
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
	if r.client, err = atlas.New(r.clientConfig(cfg)); err != nil {
		return nil, err
	}
	r.cfg, r.fetcher = cfg, atlas.NewFetcher(r.client)
	r.eng = newEngine(r.fetcher, settings(cfg))
	r.loaded()
	return r, nil
}

// clientConfig is the Atlas client's configuration for cfg.
func (r *reloader) clientConfig(cfg *config.Config) atlas.Config {
	cc := cfg.ClientConfig("")
	cc.Observer, cc.Slots = r.obs, r.slots
	cc.UserAgent = exporterName + "/" + version.Version
	return cc
}

// reload loads the configuration again and applies what changed; reason says what asked.
func (r *reloader) reload(reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed, kept, err := r.apply()
	if err != nil {
		r.success.Set(0)
		level.Error(r.logger).Log("msg", "reload failed; keeping the running configuration", "reason", reason, "err", err)
		return err
	}
	r.loaded()
	if !changed {
		level.Info(r.logger).Log("msg", "configuration unchanged", "reason", reason)
		return nil
	}
	level.Info(r.logger).Log("msg", "configuration reloaded", "reason", reason, "atlas_session_kept", kept)
	return nil
}

// apply loads the configuration and puts what changed in place; r.mu must be held. kept says
// whether the Atlas session (token, limiters, connections) stayed.
func (r *reloader) apply() (changed, kept bool, err error) {
	cfg, err := r.load()
	if err != nil || cfg.Equal(r.cfg) {
		return false, true, err
	}
	old, client, kept := r.client, r.client, true
	if !reflect.DeepEqual(cfg.Atlas, r.cfg.Atlas) {
		if client, kept, err = atlas.NewFrom(old, r.clientConfig(cfg)); err != nil {
			return false, false, err
		}
		// Calls of the old client still in flight keep their slots: a smaller bound makes new
		// calls wait until fewer than it remain.
		r.slots.Resize(cfg.Atlas.MaxConcurrency)
	}
	if kept {
		r.fetcher.Use(client)
	} else {
		r.fetcher = atlas.NewFetcher(client)
	}
	r.cfg, r.client = cfg, client
	r.eng.Reconfigure(r.fetcher, r.settings(cfg))
	if !kept {
		old.Close()
	}
	return true, kept, nil
}

// loaded records a successful load of the configuration.
func (r *reloader) loaded() {
	r.success.Set(1)
	r.timestamp.SetToCurrentTime()
}

// inFlight is the running client's requests in flight.
func (r *reloader) inFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.client.InFlight()
}

func (r *reloader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.client.Close()
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
			_ = r.reload(reason)
		}
	}
}

// changedSecret names the key of a secret file whose content differs from the secret in use,
// or returns "".
func (r *reloader) changedSecret() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	differs := func(file string, inUse config.Secret) bool {
		s, err := config.ReadSecretFile(file)
		// An unreadable file is left to the next reload to report.
		return err == nil && s != inUse
	}
	a := r.cfg.Atlas
	switch {
	case a.ServiceAccount != nil && a.ServiceAccount.ClientSecretFile != "" && differs(a.ServiceAccount.ClientSecretFile, a.ServiceAccount.ClientSecret):
		return "atlas.service_account.client_secret_file"
	case a.APIKey != nil && a.APIKey.PrivateKeyFile != "" && differs(a.APIKey.PrivateKeyFile, a.APIKey.PrivateKey):
		return "atlas.api_key.private_key_file"
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
