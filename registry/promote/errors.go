package promote

import (
	"errors"
	"fmt"

	"cairn.dev/cairn/verify"
)

// ErrTooManyReferrers is returned when a version's graph of referrers
// exceeds MaxReferrers or MaxNodes: anyone who may push may attach
// referrers, and a copy must end.
var ErrTooManyReferrers = errors.New("too many referrers")

// ErrDestination is returned when the destination reference cannot name
// the version copied (a digest other than the source's).
var ErrDestination = errors.New("destination reference")

// ErrLayout is returned for an OCI layout tar that is malformed, over a
// limit, incomplete or whose content does not match its digests: a failed
// check of the file, so it wraps verify.ErrVerification.
var ErrLayout = fmt.Errorf("%w: OCI layout", verify.ErrVerification)
