package registry

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	_ "crypto/sha256" // register with go-digest
	_ "crypto/sha512"
)

// Name and reference limits.
const (
	// MaxNameLength bounds a repository name, as distribution does.
	MaxNameLength = 255
	// maxDigestLength bounds a digest string before it is parsed.
	maxDigestLength = 7 + 128
)

var (
	nameRe = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidName reports whether s is a valid repository name.
func ValidName(s string) bool {
	return len(s) <= MaxNameLength && nameRe.MatchString(s)
}

// ValidTag reports whether s is a valid tag.
func ValidTag(s string) bool { return tagRe.MatchString(s) }

// ParseDigest parses a sha256 or sha512 digest, rejecting every other
// algorithm and any malformed encoding.
func ParseDigest(s string) (digest.Digest, error) {
	if len(s) > maxDigestLength {
		return "", fmt.Errorf("digest too long")
	}
	d, err := digest.Parse(s)
	if err != nil {
		return "", err
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return d, nil
	}
	return "", fmt.Errorf("unsupported digest algorithm %q", d.Algorithm())
}

func checkName(name string) error {
	if !ValidName(name) {
		return newError(http.StatusBadRequest, codeNameInvalid, "invalid repository name %q", truncate(name))
	}
	return nil
}

func digestParam(s string) (digest.Digest, error) {
	d, err := ParseDigest(s)
	if err != nil {
		return "", &Error{Status: http.StatusBadRequest, Code: codeDigestInvalid, Message: fmt.Sprintf("invalid digest %q: %v", truncate(s), err)}
	}
	return d, nil
}

// truncate keeps echoed client input short in error messages.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
