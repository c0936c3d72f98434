package auth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Bearer tokens are JWTs signed with HMAC-SHA256 under a 256-bit key kept
// in the accounts store (Accounts.Secret), so that every node of a cluster
// verifies what any node issued. Only this registry issues and verifies
// them, so a symmetric key is enough, and checking one costs a microsecond
// (a signature with Ed25519 would cost 50 times more on every request).
const (
	tokenIssuer = "cairn"
	// secretJWT names the signing key in Accounts.Secret.
	secretJWT = "jwt-hs256"
	// maxBearerLength bounds a bearer token before it is parsed.
	maxBearerLength = 8 << 10
	// useAccess and useRefresh tell access tokens from refresh tokens.
	useAccess  = "access"
	useRefresh = "refresh"
)

// claims are the claims of cairn's tokens: the registered ones, the docker
// "access" list, and cairn's own.
type claims struct {
	jwt.Claims
	Access []Access `json:"access,omitempty"`
	// TokenID is the API token the bearer token was exchanged for, if any.
	TokenID string `json:"tid,omitempty"`
	// Use is "access" or "refresh".
	Use string `json:"use"`
	// PasswordTag is, in a refresh token exchanged for a password, a
	// fingerprint of that password's hash: a new password (a new salted
	// hash) ends every refresh token issued under the old one.
	PasswordTag string `json:"pwt,omitempty"`
}

// signer issues and verifies tokens.
type signer struct {
	key []byte
	jws jose.Signer
}

func newSigner(key []byte) (*signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("auth: signing key of %d bytes, want 32", len(key))
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, opts)
	if err != nil {
		return nil, err
	}
	return &signer{key: key, jws: s}, nil
}

// issue signs c after filling in the issuer, the times and a unique ID.
func (s *signer) issue(c claims, now time.Time, ttl time.Duration) (string, error) {
	var jti [12]byte
	rand.Read(jti[:])
	c.Issuer = tokenIssuer
	c.ID = hex.EncodeToString(jti[:])
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now.Add(-time.Second))
	c.Expiry = jwt.NewNumericDate(now.Add(ttl))
	return jwt.Signed(s.jws).Claims(c).Serialize()
}

// verify checks a token's signature (HS256 only: no "none", no algorithm
// chosen by the token), its issuer, its validity period with no leeway, and
// its use.
func (s *signer) verify(raw string, now time.Time, use string) (*claims, error) {
	if len(raw) > maxBearerLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrTokenInvalid, maxBearerLength)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	var c claims
	if err := tok.Claims(s.key, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: tokenIssuer, Time: now}, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if c.Expiry == nil || c.Subject == "" || c.Use != use {
		return nil, fmt.Errorf("%w: not an %s token", ErrTokenInvalid, use)
	}
	return &c, nil
}
