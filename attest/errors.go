package attest

import (
	"errors"
	"fmt"
)

// ErrWrongPassword is returned, wrapped, when an encrypted private key does
// not decrypt with the password given: the password is wrong, or the key
// was altered. Test for it with errors.Is.
var ErrWrongPassword = errors.New("wrong password for private key")

// ErrPasswordRequired is returned, wrapped, when a PKCS#8 private key is
// encrypted and the password given is empty. It wraps ErrWrongPassword, so
// callers that only test for ErrWrongPassword still match; a command can test
// for ErrPasswordRequired to decide to prompt.
var ErrPasswordRequired = fmt.Errorf("%w: the key is encrypted and no password was given", ErrWrongPassword)
