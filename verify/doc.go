// Package verify holds the pure checks that decide whether a model may be
// loaded: digests of files against their descriptors, signatures and
// attestations against a policy. It never logs and never imports the
// registry or the web UI; checks return errors wrapping ErrVerification.
//
// The checks arrive with the signature and verification-agent issues; the
// package exists now so that the dependency rules (see
// registry/deps_test.go) are enforced from the start.
package verify
