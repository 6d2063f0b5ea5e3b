package main

import (
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// requestLog logs every HTTP exchange with Atlas at debug level: what was asked (credential
// set, operation, method, the path without query: it names projects and clusters, never a
// credential) and what came back (the status, or the class of failure), the attempt, why it
// is a retry, and how long it took. Nothing of a header or a body: no secret can reach it.
type requestLog struct{ logger log.Logger }

func (l requestLog) ObserveRequest(e atlas.RequestEvent) {
	kv := []any{"msg", "atlas request", "credentials", config.SetName(e.Credentials), "operation", e.Operation,
		"method", e.Method, "path", e.Path, "status", e.Code}
	if e.Error != "" {
		kv = append(kv, "error", e.Error)
	}
	kv = append(kv, "attempt", e.Attempt)
	if e.RetryOf != "" {
		kv = append(kv, "retry_of", e.RetryOf)
	}
	level.Debug(l.logger).Log(append(kv, "duration", e.Duration.Round(time.Microsecond))...)
}

// ObserveRetry logs nothing: the retried attempt's own line says why (retry_of).
func (requestLog) ObserveRetry(string, string) {}

// observers passes every event to each of them.
type observers []atlas.Observer

func (os observers) ObserveRequest(e atlas.RequestEvent) {
	for _, o := range os {
		o.ObserveRequest(e)
	}
}

func (os observers) ObserveRetry(operation, reason string) {
	for _, o := range os {
		o.ObserveRetry(operation, reason)
	}
}
