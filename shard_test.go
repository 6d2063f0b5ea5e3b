package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

func TestShardFromFlags(t *testing.T) {
	for _, tc := range []struct {
		index, total int
		pod          string
		want         estate.Shard
		err          string
	}{
		{0, 1, "", estate.Shard{Index: 0, Total: 1}, ""},
		{2, 3, "", estate.Shard{Index: 2, Total: 3}, ""},
		{0, 3, "atlas-backup-exporter-2", estate.Shard{Index: 2, Total: 3}, ""},
		{0, 12, "abe-11", estate.Shard{Index: 11, Total: 12}, ""},
		{3, 3, "", estate.Shard{}, "shard 3 is outside 0 to 2 (--total-shards=3): change the replicas and --total-shards together"},
		{0, 3, "atlas-backup-exporter-3", estate.Shard{}, "shard 3 is outside 0 to 2 (--total-shards=3): change the replicas and --total-shards together"},
		{-1, 3, "", estate.Shard{}, "shard -1 is outside 0 to 2 (--total-shards=3): change the replicas and --total-shards together"},
		{0, 0, "", estate.Shard{}, "--total-shards must be at least 1, got 0"},
		{1, 3, "abe-1", estate.Shard{}, "set --shard or --shard.from-pod-name, not both"},
		{0, 3, "atlas-backup-exporter", estate.Shard{}, `--shard.from-pod-name: "atlas-backup-exporter" does not end in -<ordinal>, as a StatefulSet pod name does`},
		{0, 3, "7", estate.Shard{}, `--shard.from-pod-name: "7" does not end in -<ordinal>, as a StatefulSet pod name does`},
	} {
		got, err := shardFromFlags(tc.index, tc.total, tc.pod)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != tc.err || got != tc.want {
			t.Errorf("shardFromFlags(%d, %d, %q) = %+v, %v; want %+v, %q", tc.index, tc.total, tc.pod, got, err, tc.want, tc.err)
		}
	}
}

// A replica started with a shard outside --total-shards refuses to start, saying why.
func TestShardFlagsMismatchExits(t *testing.T) {
	out, err := exec.Command(binary, "--demo", "--shard=3", "--total-shards=3").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `msg="invalid sharding flags" err="shard 3 is outside 0 to 2 (--total-shards=3): change the replicas and --total-shards together"`) {
		t.Errorf("exit %v:\n%s", err, out)
	}
}

// The StatefulSet mode: the shard is the pod's ordinal.
func TestShardFromPodName(t *testing.T) {
	e := startExporter(t, "--demo", "--total-shards=3", "--shard.from-pod-name=atlas-backup-exporter-2")
	_, body := e.get(t, "/metrics")
	for _, want := range []string{`atlas_backup_exporter_shard_info{shard="2",total_shards="3"} 1`, "atlas_backup_exporter_shards 3"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
