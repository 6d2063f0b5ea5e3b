package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

func TestShardFromFlags(t *testing.T) {
	for _, tc := range []struct {
		index    int
		indexSet bool
		total    int
		pod      string
		want     estate.Shard
		err      string
	}{
		{0, false, 1, "", estate.Shard{Index: 0, Total: 1}, ""},
		{2, true, 3, "", estate.Shard{Index: 2, Total: 3}, ""},
		{0, false, 3, "atlas-backup-exporter-2", estate.Shard{Index: 2, Total: 3}, ""},
		{0, false, 12, "abe-11", estate.Shard{Index: 11, Total: 12}, ""},
		{3, true, 3, "", estate.Shard{}, "shard 3 is outside 0 to 2 (--total-shards=3): change the replicas and --total-shards together"},
		{0, false, 3, "atlas-backup-exporter-3", estate.Shard{}, "shard 3 is outside 0 to 2 (--total-shards=3): change the replicas and --total-shards together"},
		{-1, true, 3, "", estate.Shard{}, "shard -1 is outside 0 to 2 (--total-shards=3): change the replicas and --total-shards together"},
		{0, false, 0, "", estate.Shard{}, "--total-shards must be at least 1, got 0"},
		{1, true, 3, "abe-1", estate.Shard{}, "set --shard or --shard.from-pod-name, not both"},
		// --shard=0 given beside a pod name contradicts it as much as --shard=1.
		{0, true, 3, "abe-1", estate.Shard{}, "set --shard or --shard.from-pod-name, not both"},
		{0, false, 3, "atlas-backup-exporter", estate.Shard{}, `--shard.from-pod-name: "atlas-backup-exporter" does not end in -<ordinal>, as a StatefulSet pod name does`},
		{0, false, 3, "7", estate.Shard{}, `--shard.from-pod-name: "7" does not end in -<ordinal>, as a StatefulSet pod name does`},
	} {
		got, err := shardFromFlags(tc.index, tc.indexSet, tc.total, tc.pod)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != tc.err || got != tc.want {
			t.Errorf("shardFromFlags(%d, %t, %d, %q) = %+v, %v; want %+v, %q", tc.index, tc.indexSet, tc.total, tc.pod, got, err, tc.want, tc.err)
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

// --shard=0 beside --shard.from-pod-name is refused like any other --shard value.
func TestShardZeroAndPodNameExits(t *testing.T) {
	// A binary that took the pod name instead would serve until killed.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--demo", "--shard=0", "--total-shards=3", "--shard.from-pod-name=abe-2").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `msg="invalid sharding flags" err="set --shard or --shard.from-pod-name, not both"`) {
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
