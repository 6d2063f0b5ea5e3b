package estate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// The state file (--storage.path) keeps the tamper baselines (tamper.go) across restarts, so
// that snapshots deleted while the exporter was down are found at its first refresh (and
// counted two refreshes later: heldRefreshes). It holds, per credential set and watched target
// (project id, cluster name, kind), what its last complete listing said of each completed
// snapshot: the id and expiry, and the creation time, frequency and whether it was scheduled,
// which the cause and the log line need. Nothing else: no secret, no project name. It is written
// whole (a temporary file renamed over it) after each snapshot phase that changed a baseline,
// and holds only the targets watched then, so it is bounded by the estate. It is read once, at
// start: a baseline older than maxStoredAge, or of another shard, is ignored, and a file that
// cannot be read is logged and ignored (the first listings are then baselines, as without one).

// storageVersion is the version of the file's format; a file of another is ignored.
const storageVersion = 1

// maxStoredAge is how old a stored baseline may be and still be compared with: past a day, the
// snapshots Atlas took and expired meanwhile make the comparison little more than a guess at
// what the exporter missed, and an exporter down that long has been noticed for it.
const maxStoredAge = 24 * time.Hour

type storedFile struct {
	Version int         `json:"version"`
	Shard   Shard       `json:"shard"`
	Sets    []storedSet `json:"sets"`
}

type storedSet struct {
	Name    string         `json:"set"`
	Targets []storedTarget `json:"targets"`
}

type storedTarget struct {
	ProjectID string           `json:"project_id"`
	Cluster   string           `json:"cluster"`
	Kind      atlas.Kind       `json:"kind"`
	Sharded   bool             `json:"sharded,omitempty"`
	Served    atlas.Kind       `json:"served"` // the kind the listing was read as
	ReadAt    int64            `json:"read_at"`
	Snapshots []storedSnapshot `json:"snapshots"`
}

type storedSnapshot struct {
	ID        string `json:"i"`
	Created   int64  `json:"c"`
	Expires   int64  `json:"e"`
	Frequency string `json:"f,omitempty"`
	Scheduled bool   `json:"s,omitempty"`
}

// storedBase is a baseline read from the state file, for a target's first listing.
type storedBase struct {
	base   []atlas.Snapshot
	served atlas.Target
}

// storage writes the state file; one write at a time.
type storage struct {
	path string
	mu   sync.Mutex
	// written are the sets' baseline counts (setEngine.baselines) the file holds.
	written map[string]uint64
	lastErr string
}

// loadStorage reads the state file at path for shard: the baselines it keeps per set and
// target, those older than maxStoredAge at now left out. A missing file is no baseline.
func loadStorage(path string, shard Shard, now time.Time) (map[string]map[atlas.Target]storedBase, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f storedFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Version != storageVersion {
		return nil, fmt.Errorf("%s: format version %d, not %d", path, f.Version, storageVersion)
	}
	if f.Shard != shard {
		return nil, fmt.Errorf("%s: written by shard %d of %d, this is %d of %d", path, f.Shard.Index, f.Shard.Total, shard.Index, shard.Total)
	}
	out := map[string]map[atlas.Target]storedBase{}
	for _, set := range f.Sets {
		for _, st := range set.Targets {
			at := time.Unix(st.ReadAt, 0)
			if now.Sub(at) > maxStoredAge || at.After(now) {
				continue
			}
			t := atlas.NewTarget(st.ProjectID, st.Cluster, st.Kind, st.Sharded)
			served := atlas.NewTarget(st.ProjectID, st.Cluster, st.Served, st.Sharded)
			base := make([]atlas.Snapshot, 0, len(st.Snapshots))
			for _, s := range st.Snapshots {
				sn := atlas.Snapshot{ID: s.ID, Status: atlas.StatusCompleted, CreatedAt: unixTime(s.Created), ExpiresAt: unixTime(s.Expires), Frequency: s.Frequency}
				if s.Scheduled {
					sn.Type = "scheduled"
				}
				base = append(base, sn)
			}
			if out[set.Name] == nil {
				out[set.Name] = map[atlas.Target]storedBase{}
			}
			out[set.Name][t] = storedBase{base: base, served: served}
		}
	}
	return out, nil
}

func unixTime(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func unixOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// baselines are the set's watched targets' baselines as the state file keeps them, and the
// count of changes to them they are as of.
func (e *setEngine) baselines() (storedSet, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := storedSet{Name: e.name}
	for _, t := range slices.SortedFunc(maps.Keys(e.targets), compareTargets) {
		tp := &e.targets[t].tamper
		if tp.base == nil {
			continue
		}
		st := storedTarget{ProjectID: t.ProjectID, Cluster: t.Cluster, Kind: t.Kind, Sharded: t.Sharded, Served: tp.served.Kind, ReadAt: tp.view.BaselineAt.Unix()}
		for _, s := range tp.base {
			if s.Status == atlas.StatusCompleted {
				st.Snapshots = append(st.Snapshots, storedSnapshot{ID: s.ID, Created: unixOf(s.CreatedAt), Expires: unixOf(s.ExpiresAt),
					Frequency: s.Frequency, Scheduled: s.IsScheduled()})
			}
		}
		out.Targets = append(out.Targets, st)
	}
	return out, e.baseChanges
}

// save writes the sets' baselines to the state file if one changed since it was last written.
func (s *storage) save(sets []*setEngine, shard Shard, logger log.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := storedFile{Version: storageVersion, Shard: shard}
	counts := map[string]uint64{}
	changed := len(sets) != len(s.written)
	for _, se := range sets {
		set, n := se.baselines()
		counts[set.Name] = n
		if w, ok := s.written[set.Name]; !ok || w != n {
			changed = true
		}
		f.Sets = append(f.Sets, set)
	}
	if !changed {
		return
	}
	err := writeAtomically(s.path, f)
	if err == nil {
		s.written = counts
		if s.lastErr != "" {
			level.Info(logger).Log("msg", "state file written again", "path", s.path)
		}
		s.lastErr = ""
		return
	}
	if err.Error() != s.lastErr {
		level.Warn(logger).Log("msg", "could not write the state file; a restart will not compare the first listings with the last", "path", s.path, "err", err)
	}
	s.lastErr = err.Error()
}

// writeAtomically writes f as JSON to a temporary file beside path, syncs it and renames it
// over path: a reader, or a restart after a crash, sees the old file or the new one whole.
func writeAtomically(path string, f storedFile) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(raw)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}
