package api

import "time"

// SetClock makes r read the time from now, for tests of what depends on
// it (the rate limit, touching tokens).
func SetClock(r *REST, now func() time.Time) { r.now = now }
