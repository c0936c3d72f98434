package auth

import "errors"

var (
	// ErrScopeInvalid means a scope string is malformed or names an
	// unknown resource or action.
	ErrScopeInvalid = errors.New("invalid scope")
	// ErrCredentials means the user name, password, API token or bearer
	// token presented is wrong, expired or revoked.
	ErrCredentials = errors.New("invalid credentials")
	// ErrThrottled means too many failed logins came for this user or from
	// this address; see ThrottledError for when to retry.
	ErrThrottled = errors.New("too many failed logins")
	// ErrTokenInvalid means a bearer token is malformed, not signed by this
	// registry, expired, or not an access token.
	ErrTokenInvalid = errors.New("invalid token")
	// ErrNameInvalid means a user name does not follow the rules of
	// ValidUserName.
	ErrNameInvalid = errors.New("invalid user name")
	// ErrPasswordInvalid means a new password is shorter than
	// MinPasswordLength or longer than MaxPasswordLength.
	ErrPasswordInvalid = errors.New("invalid password")
)
