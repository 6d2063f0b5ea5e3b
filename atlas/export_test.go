package atlas

// waiting is how many calls wait for a slot.
func (s *Slots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiters.Len()
}
