package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// API tokens look like cairn_<id>_<secret>: a 64-bit ID in hex that names
// the stored record, and a 256-bit random secret in unpadded base64url. Only
// the SHA-256 of the whole string is stored; with 256 bits of entropy a
// fast hash is enough (nothing to brute-force), and checking one costs a
// lookup and a hash.
const (
	apiTokenPrefix = "cairn_"
	apiTokenIDLen  = 16
	apiSecretLen   = 43 // base64url of 32 bytes
	// maxCredentialLength bounds a password or token before it is parsed
	// or hashed.
	maxCredentialLength = 4096
)

// newAPIToken returns a fresh token string, its ID and the hash to store.
func newAPIToken() (token, id string, hash []byte) {
	var idb [8]byte
	var secret [32]byte
	rand.Read(idb[:])
	rand.Read(secret[:])
	id = hex.EncodeToString(idb[:])
	token = apiTokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	h := sha256.Sum256([]byte(token))
	return token, id, h[:]
}

// parseAPIToken returns the ID of a string shaped like an API token.
func parseAPIToken(s string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(s, apiTokenPrefix)
	if !ok || len(rest) != apiTokenIDLen+1+apiSecretLen || rest[apiTokenIDLen] != '_' {
		return "", false
	}
	id = rest[:apiTokenIDLen]
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	if _, err := base64.RawURLEncoding.DecodeString(rest[apiTokenIDLen+1:]); err != nil {
		return "", false
	}
	return id, true
}

// validTokenID reports whether s is an API token ID.
func validTokenID(s string) bool {
	if len(s) != apiTokenIDLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
