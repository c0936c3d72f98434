package promote

import "errors"

// ErrTooManyReferrers is returned when a version's graph of referrers
// exceeds MaxReferrers or MaxNodes: anyone who may push may attach
// referrers, and a copy must end.
var ErrTooManyReferrers = errors.New("too many referrers")

// ErrDestination is returned when the destination reference cannot name
// the version copied (a digest other than the source's).
var ErrDestination = errors.New("destination reference")
