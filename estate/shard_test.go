package estate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The assignment must never change between versions: replicas of different versions share an
// estate during a rollout.
func TestShardOfIsStable(t *testing.T) {
	// Pinned values: FNV-1a 64 of the id string, mod the total.
	got := fmt.Sprint(ShardOf("5f0000000000000000000001", 3), ShardOf("5f0000000000000000000002", 3), ShardOf("5f0000000000000000000003", 3),
		ShardOf("64b7f3c2a1e4d5f6a7b8c9d0", 16), ShardOf("5f0000000000000000000003", 1))
	if want := "0 0 1 0 0"; got != want {
		t.Errorf("shard assignment changed: got %s, want %s", got, want)
	}
}

// TestShardOfIsBalanced: over 10,000 random project ids (shaped like Atlas's: a time, then random
// bytes), every shard of 2 to 16 gets within three standard deviations of an even share, as a
// random assignment would: 3% of even at 2 shards, 12% at 16 (go test -v shows the largest gap).
func TestShardOfIsBalanced(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x%016x", 0x5f000000+rng.Uint32N(1<<24), rng.Uint64())
	}
	for total := 2; total <= 16; total++ {
		worst := 0.0
		counts := make([]int, total)
		for _, id := range ids {
			counts[ShardOf(id, total)]++
		}
		p := 1 / float64(total)
		even, sigma := n*p, math.Sqrt(n*p*(1-p))
		for s, c := range counts {
			off := math.Abs(float64(c) - even)
			worst = max(worst, off/even)
			if off > 3*sigma {
				t.Errorf("%d shards: shard %d has %d projects, %.0f off an even %.0f (3σ = %.0f)", total, s, c, off, even, 3*sigma)
			}
		}
		t.Logf("%2d shards: largest gap from an even share %.1f%% (σ %.1f%%)", total, 100*worst, 100*sigma/even)
	}
}
