package collector

import (
	"context"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// coalesce is how long a render holds back the next: during a refresh every delivery makes a
// version, and rendering each would cost more than the refresh; so the data delivered in one
// second is rendered together, and no rendered body hides delivered data much longer.
const coalesce = time.Second

// Exposition returns the body of the newest version rendered. When the source has a newer
// version, it renders it first (or waits for the render under way, which one of the callers
// does for all), unless the last render began less than a second ago: then the last body is
// served, and the renderer (Run) renders the new version when the second is over. A version
// that ends a refresh's snapshot phase is rendered at once: the scrapes that waited for the
// refresh are owed it. With fresh, the newest version is rendered whenever it has not been.
// Between versions nothing is rendered. When ctx ends while it waits for a render, it returns
// the last body, nil if there is none yet.
func (c *Collector) Exposition(ctx context.Context, fresh bool) *Body {
	want := c.src.View()
	c.mu.Lock()
	for {
		b := c.body
		if b != nil && (b.Version >= want.Version || !fresh && !c.due(b, want)) {
			c.mu.Unlock()
			return b
		}
		if wait := c.rendering; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				c.mu.Lock()
				defer c.mu.Unlock()
				return c.body
			}
			c.mu.Lock()
			continue
		}
		// Render the newest version: a newer one than want may have come meanwhile.
		c.rendering, c.began = make(chan struct{}), c.now()
		c.mu.Unlock()
		return c.renderNewest()
	}
}

// due reports whether v, newer than b, is to be rendered now: b is a second old, or v ends a
// snapshot phase b did not see. c.mu must be held.
func (c *Collector) due(b *Body, v *estate.View) bool {
	return c.now().Sub(c.began) >= coalesce || b.phases != v.Health.Phases
}

// renderNewest renders the source's current view and makes it the body; only the caller that
// set c.rendering calls it, so renders never overlap. Whatever happens, the callers waiting
// for it are released.
func (c *Collector) renderNewest() (b *Body) {
	groups := 0
	defer func() {
		c.mu.Lock()
		if b != nil {
			c.body = b
			c.renders++
			c.groupRenders += groups
		}
		close(c.rendering)
		c.rendering = nil
		c.mu.Unlock()
	}()
	start := c.now()
	b, groups = c.render(c.src.View())
	c.lastDuration.Set(c.now().Sub(start).Seconds())
	return b
}

// Run renders each new version changed signals (estate.Engine.Changes) off the scrape path, a
// second after the last render began at the earliest (at once when it ends a snapshot phase),
// until ctx ends.
func (c *Collector) Run(ctx context.Context, changed <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		v := c.src.View()
		c.mu.Lock()
		wait := coalesce - c.now().Sub(c.began)
		if c.body == nil || c.body.phases != v.Health.Phases {
			wait = 0
		}
		c.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		c.Exposition(ctx, true)
	}
}
