package estate

import "hash/fnv"

// Sharding splits the estate between replicas by project, as kube-state-metrics splits objects:
// a project belongs to shard FNV-1a-64(project id) mod total shards, so that all of a project's
// targets, and its Atlas rate-limit buckets, are read by one replica, and no replica needs to
// talk to another. The hash of the id string is stable across versions and machines.

// Shard is one replica's part of the estate: Index of Total (0 <= Index < Total).
type Shard struct{ Index, Total int }

// owns reports whether the project with id key (or, for a project Atlas does not show, the key
// it is configured by) belongs to the shard. The zero Shard owns everything.
func (s Shard) owns(key string) bool {
	if s.Total <= 1 {
		return true
	}
	return ShardOf(key, s.Total) == s.Index
}

// ShardOf is the shard a project id belongs to among total shards.
func ShardOf(projectID string, total int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(projectID))
	return int(h.Sum64() % uint64(total))
}
