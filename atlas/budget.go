package atlas

import (
	"context"
	"errors"
	"io"
	"slices"

	"golang.org/x/sync/semaphore"
)

// bodyChunk is what a response of unknown length reserves first: more than a full page of
// Atlas's snapshots, so only broken or hostile answers ever need the second reservation.
const bodyChunk = 1 << 20

// errBodyTooBig is a response body longer than MaxBodyBytes.
var errBodyTooBig = errors.New("response body too big")

// bodyBudget bounds the bytes of response bodies held at once across concurrent calls. Without
// it, max_concurrency answers of MaxBodyBytes each could all be in memory together (and twice
// that while they grow). A response reserves its Content-Length before reading it; one of
// unknown length reserves bodyChunk, and the rest of MaxBodyBytes only if it turns out longer.
type bodyBudget struct {
	sem   *semaphore.Weighted
	limit int64 // MaxBodyBytes + 1: holding this many bytes proves a body too big
}

// newBodyBudget returns a budget of total bytes, raised where needed so that it can never
// deadlock: a reader waiting for its second reservation holds at most one chunk, and at most
// concurrency responses are read at once (one per slot), so with this floor the first
// reader in line always finds room once the readers that are not waiting have finished.
func newBodyBudget(total, maxBody int64, concurrency int) *bodyBudget {
	limit := maxBody + 1
	total = max(total, limit+int64(concurrency)*min(bodyChunk, limit))
	return &bodyBudget{sem: semaphore.NewWeighted(total), limit: limit}
}

// read reads r, of length n (-1 when unknown), to its end within the budget. It returns what
// it read and a function that gives the reservation back, to be called once the body is no
// longer needed, whatever the error. Reading stops with errBodyTooBig at MaxBodyBytes + 1.
func (b *bodyBudget) read(ctx context.Context, r io.Reader, n int64) ([]byte, func(), error) {
	if n >= b.limit {
		return nil, func() {}, errBodyTooBig
	}
	held := min(bodyChunk, b.limit)
	if n >= 0 {
		held = n + 1 // room to see the end
	}
	if err := b.sem.Acquire(ctx, held); err != nil {
		return nil, func() {}, err
	}
	release := func() { b.sem.Release(held) }
	buf := make([]byte, 0, min(held, 4096))
	if n >= 0 {
		buf = make([]byte, 0, held)
	}
	for {
		end := min(int64(cap(buf)), held)
		if int64(len(buf)) == end {
			switch {
			case end < held:
				buf = slices.Grow(buf, int(min(int64(len(buf)), held-end)))
			case held < b.limit:
				if err := b.sem.Acquire(ctx, b.limit-held); err != nil {
					return nil, release, err
				}
				held = b.limit
			default:
				return nil, release, errBodyTooBig
			}
			continue
		}
		m, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, release, nil
		}
		if err != nil {
			return buf, release, err
		}
	}
}
