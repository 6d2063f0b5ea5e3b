package collector_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv/rig"
)

// env is the rig, under the names these tests use.
type env struct {
	*rig.Env
	srv    *atlastest.Server
	client *atlas.Client
	engine *estate.Engine
	coll   *collector.Collector
	clock  *rig.Clock
	logs   *testenv.Buffer
	reg    *prometheus.Registry
}

func newEnv(t testing.TB, o atlastest.Options, s estate.Settings, clientOpts ...func(*atlas.Config)) *env {
	t.Helper()
	r := rig.New(t, o, s, clientOpts...)
	return &env{Env: r, srv: r.Srv, client: r.Client, engine: r.Engine, coll: r.Coll, clock: r.Clock, logs: r.Logs, reg: r.Reg}
}

func (e *env) refresh(t testing.TB) {
	t.Helper()
	e.Refresh(t)
}

func (e *env) exposition(t testing.TB) string {
	t.Helper()
	return e.Exposition(t)
}

var (
	testNow         = rig.Now
	expectLines     = rig.ExpectLines
	grep            = rig.Grep
	merge           = rig.Merge
	equalCounts     = rig.EqualCounts
	sum             = rig.Sum
	oneProject      = rig.OneProject
	defaultSettings = rig.DefaultSettings
	defaultProjects = rig.DefaultProjects
)

const (
	p1           = rig.P1
	p2           = rig.P2
	flexSuccess  = rig.FlexSuccess
	cloudLabels  = rig.CloudLabels
	cloudOK      = rig.CloudOK
	flexLastGood = rig.FlexLastGood
	flexCount    = rig.FlexCount
)

func removeCluster(e *env, project int, name string) { e.RemoveCluster(project, name) }
