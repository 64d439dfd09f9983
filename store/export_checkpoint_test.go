package store

// CheckpointRuns returns how many background checkpoints ran, for tests.
func CheckpointRuns(s *Store) int64 {
	if s.ckpt == nil {
		return 0
	}
	return s.ckpt.runs.Load()
}
