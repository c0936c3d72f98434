package web

import (
	"context"
	"time"
)

// PullCounts brings the pull counts up to date and returns them, for
// tests: the pages show them through a refresher that serves a stale value
// while it refreshes.
func (u *UI) PullCounts(ctx context.Context) map[string]int {
	if u.pulls == nil {
		return nil
	}
	u.pulls.invalidate()
	m, _, _ := u.pulls.get(ctx, time.Minute)
	return m
}
