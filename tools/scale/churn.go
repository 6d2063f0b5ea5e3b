package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// ChurnReport is the live heap of the client, fetcher and collector (the fake's recorded
// requests are dropped at every refresh) while every refresh meets an estate of new projects.
type ChurnReport struct {
	Refreshes int
	// At are the refreshes after which the heap was read; Heap the live heap then (after a GC),
	// in bytes.
	At   []int
	Heap []uint64
	Wall time.Duration
}

// churn runs refreshes refreshes, each against p.Projects projects created for it (new ids and
// names) in place of the last ones, as an estate whose projects are created and deleted between
// refreshes.
func churn(p Params, refreshes int) (*ChurnReport, error) {
	rg, err := newRig(p, atlas.Config{Timeout: cmp.Or(p.Timeout, time.Minute)}, estate.Settings{MinRefreshInterval: time.Second,
		RefreshTimeout: cmp.Or(p.RefreshTimeout, 10*time.Minute), DiscoveryInterval: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	defer rg.close()
	r := &ChurnReport{Refreshes: refreshes}
	start := time.Now()
	for i := 1; i <= refreshes; i++ {
		est := atlastest.Generate(atlastest.Spec{Seed: uint64(i), Projects: p.Projects, ClustersPerProject: p.Clusters, SnapshotsPerCluster: p.Snapshots, Retention: keepAll(p.Snapshots), Kinds: kinds})
		for j, proj := range est.Projects {
			proj.ID, proj.Name = fmt.Sprintf("6c%010x%012x", i, j), fmt.Sprintf("churn-%d-%d", i, j)
		}
		rg.fake.Update(func(e *atlastest.Estate) { e.Projects = est.Projects })
		rg.fake.Reset()
		rg.clock.advance(time.Minute)
		rg.eng.Refresh(rg.ctx)
		rg.eng.WaitIdle(rg.ctx)
		if i == 1 || i == refreshes || (i%10 == 0 && isPowerOfTen(i)) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			r.At, r.Heap = append(r.At, i), append(r.Heap, ms.HeapAlloc)
		}
	}
	r.Wall = time.Since(start)
	return r, nil
}

func isPowerOfTen(n int) bool {
	for n > 1 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

func (r *ChurnReport) print(w io.Writer, p Params) {
	fmt.Fprintf(w, "churn: %d refreshes, each of %d new projects x %d clusters x %d snapshots, in %s\n",
		r.Refreshes, p.Projects, p.Clusters, p.Snapshots, r.Wall.Round(time.Millisecond))
	for i, at := range r.At {
		fmt.Fprintf(w, "  live heap after refresh %5d: %6.2f MiB\n", at, float64(r.Heap[i])/(1<<20))
	}
}
