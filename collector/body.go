package collector

import (
	"compress/gzip"
	"io"
	"iter"
)

// all yields every member of family i, empty ones included.
func (b *Body) all(i int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if !yield(b.view.of(i)) {
			return
		}
		for _, groups := range b.groups {
			for _, g := range groups {
				if !yield(g.of(i)) {
					return
				}
			}
		}
	}
}

// family yields what family i writes in format f: its header, then its members; nothing when
// it has no line.
func (b *Body) family(f Format, i int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if !b.present[i] || !yield(table.gzipHeaders[f][i]) {
			return
		}
		for m := range b.all(i) {
			if len(m) > 0 && !yield(m) {
				return
			}
		}
	}
}

// chunks yields the body's gzip members in format f, in order.
func (b *Body) chunks(f Format) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for i := range b.present {
			for m := range b.family(f, i) {
				if !yield(m) {
					return
				}
			}
		}
	}
}

// WriteGzip writes the body in format f, gzipped: its members as they are.
func (b *Body) WriteGzip(w io.Writer, f Format) error {
	for m := range b.chunks(f) {
		if _, err := w.Write(m); err != nil {
			return err
		}
	}
	return nil
}

// WritePlain writes the body in format f, decompressing it as it goes.
func (b *Body) WritePlain(w io.Writer, f Format) error {
	if b.size[f] == 0 {
		return nil
	}
	next, stop := iter.Pull(b.chunks(f))
	defer stop()
	zr, err := gzip.NewReader(&chunkReader{next: next})
	if err != nil {
		return err
	}
	_, err = io.Copy(w, zr)
	return err
}

// chunkReader reads the chunks next yields, one after the other.
type chunkReader struct {
	next func() ([]byte, bool)
	cur  []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		var ok bool
		if r.cur, ok = r.next(); !ok {
			return 0, io.EOF
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
