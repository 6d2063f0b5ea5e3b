package atlas

// waiting is how many calls wait for a slot.
func (s *Slots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sh := range s.shares {
		n += sh.waiters[0].Len() + sh.waiters[1].Len()
	}
	return n
}

// MaxInFlight returns the largest number of HTTP requests that were in flight at once.
func (c *Client) MaxInFlight() int {
	c.wire.mu.Lock()
	defer c.wire.mu.Unlock()
	return c.wire.maxSeen
}
