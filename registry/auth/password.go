package auth

import (
	"fmt"
	"regexp"

	"golang.org/x/crypto/bcrypt"
)

// Password rules. bcrypt reads at most 72 bytes, so longer passwords are
// refused rather than silently cut.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 72
	// BcryptCost is the cost of new password hashes (2^10 rounds, about
	// 60 ms here); hashes keep their own cost, so raising it later applies
	// to passwords set from then on.
	BcryptCost = 10
	// MaxUserNameLength bounds a user name.
	MaxUserNameLength = 64
)

var userNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// ValidUserName reports whether name may be a user's name: letters,
// digits, ".", "_", "@" and "-", starting with a letter or digit, at most
// MaxUserNameLength bytes, and not "anonymous". Names can never contain
// ":" (the Basic credential separator) nor look like the "token:<id>"
// principal of an API token.
func ValidUserName(name string) bool {
	return len(name) <= MaxUserNameLength && userNameRe.MatchString(name) && name != "anonymous"
}

// HashPassword checks the password rules and returns a bcrypt hash at
// BcryptCost.
func HashPassword(password string) ([]byte, error) {
	return hashPassword(password, 0)
}

// hashPassword hashes at cost (0: BcryptCost).
func hashPassword(password string, cost int) ([]byte, error) {
	if len(password) < MinPasswordLength || len(password) > MaxPasswordLength {
		return nil, fmt.Errorf("%w: a password has %d to %d bytes", ErrPasswordInvalid, MinPasswordLength, MaxPasswordLength)
	}
	if cost == 0 {
		cost = BcryptCost
	}
	return bcrypt.GenerateFromPassword([]byte(password), cost)
}
