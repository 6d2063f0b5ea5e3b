package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// RenderReport is what rendering a view costs: in full (the first render after a start), and
// the next version after one target's delivery (its snapshots unchanged, then changed); and
// what a scrape then writes.
type RenderReport struct {
	FullWall, FullCPU         time.Duration
	DeltaWall, DeltaCPU       time.Duration // one target read again, its snapshots unchanged
	SnapshotWall, SnapshotCPU time.Duration // one target's snapshots changed
	// ScrapeCPU is writing the compressed body once, as a scrape between versions does;
	// PlainCPU writing it uncompressed (decompressing it), for a client that takes no gzip.
	ScrapeCPU, PlainCPU time.Duration
	Gzip                int // bytes, OpenMetrics
	Bytes, Series       int // uncompressed, text format
}

// viewSource is a Source of one view at a time.
type viewSource struct{ v *estate.View }

func (s *viewSource) View() *estate.View { return s.v }

// measureRender renders v with a new collector, then v with its first target delivered again
// (a new view of it, as a delivery makes), and writes the body as a scrape does.
func measureRender(ctx context.Context, v *estate.View) (RenderReport, error) {
	var r RenderReport
	src := &viewSource{v: v}
	coll := collector.New(src, time.Now)
	var body *collector.Body
	r.FullWall, r.FullCPU = timed(func() { body = coll.Exposition(ctx, true) })
	if len(v.Targets) > 0 {
		// Read again, its snapshots as they were (the engine keeps their slice), then with
		// one more.
		next := *v
		next.Version++
		next.Targets = slices.Clone(v.Targets)
		delivered := *next.Targets[0]
		next.Targets[0] = &delivered
		src.v = &next
		r.DeltaWall, r.DeltaCPU = timed(func() { body = coll.Exposition(ctx, true) })
		newer := next
		newer.Version++
		newer.Targets = slices.Clone(next.Targets)
		snapshot := delivered
		snapshot.Snapshots = slices.Clone(delivered.Snapshots)
		newer.Targets[0] = &snapshot
		src.v = &newer
		r.SnapshotWall, r.SnapshotCPU = timed(func() { body = coll.Exposition(ctx, true) })
	}
	if body == nil {
		return r, ctx.Err()
	}
	const scrapes = 10
	_, cpu := timed(func() {
		for range scrapes {
			_ = body.WriteGzip(io.Discard, collector.OpenMetrics)
		}
	})
	r.ScrapeCPU = cpu / scrapes
	r.Gzip = body.Size(collector.OpenMetrics)
	var cw countingWriter
	var err error
	if _, r.PlainCPU = timed(func() { err = body.WritePlain(&cw, collector.Text) }); err != nil {
		return r, err
	}
	r.Bytes, r.Series = cw.n, cw.samples
	return r, nil
}

// timed runs fn and returns the wall and CPU time (of the whole process) it took.
func timed(fn func()) (wall, cpu time.Duration) {
	start, cpu0 := time.Now(), cpuTime()
	fn()
	return time.Since(start), cpuTime() - cpu0
}

// countingWriter counts bytes and sample lines (those not starting with #).
type countingWriter struct {
	n, samples int
	midLine    bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	for rest := p; len(rest) > 0; {
		if !c.midLine && rest[0] != '#' {
			c.samples++
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			c.midLine = true
			break
		}
		c.midLine, rest = false, rest[i+1:]
	}
	return len(p), nil
}

func (r RenderReport) print(w io.Writer) {
	fmt.Fprintf(w, "/metrics data: %d bytes, %d series (text format); %d bytes gzipped\n", r.Bytes, r.Series, r.Gzip)
	fmt.Fprintf(w, "render: in full %s (%s CPU); the next version, one target read again %s (%s CPU), with a new snapshot %s (%s CPU); a scrape between versions writes it in %s CPU\n",
		r.FullWall.Round(time.Millisecond), r.FullCPU.Round(time.Millisecond), r.DeltaWall.Round(time.Millisecond),
		r.DeltaCPU.Round(time.Millisecond), r.SnapshotWall.Round(time.Millisecond), r.SnapshotCPU.Round(time.Millisecond), r.ScrapeCPU.Round(time.Microsecond))
	fmt.Fprintf(w, "an uncompressed scrape decompresses it in %s CPU\n", r.PlainCPU.Round(time.Millisecond))
}

// renderStats are the renders of a phase: how many, and their wall time in all.
type renderStats struct {
	N    int
	Wall time.Duration
}

func (s renderStats) String() string {
	return fmt.Sprintf("%d renders in %s", s.N, s.Wall.Round(time.Millisecond))
}

// renderLoop renders the newest version every second, as the exporter's renderer does while a
// refresh delivers, and times each render.
type renderLoop struct {
	mu    sync.Mutex
	stats renderStats
	stop  context.CancelFunc
	done  chan struct{}
}

func startRenders(ctx context.Context, coll *collector.Collector) *renderLoop {
	ctx, stop := context.WithCancel(ctx)
	l := &renderLoop{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var version uint64
		for {
			start := time.Now()
			if b := coll.Exposition(ctx, true); b != nil && b.Version != version {
				version = b.Version
				l.mu.Lock()
				l.stats.N++
				l.stats.Wall += time.Since(start)
				l.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return l
}

// take returns the renders since the last take.
func (l *renderLoop) take() renderStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	l.stats = renderStats{}
	return s
}

func (l *renderLoop) close() {
	l.stop()
	<-l.done
}
