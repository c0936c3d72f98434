// Package attest builds in-toto statements (SLSA provenance, cosign
// signatures), signs them into Sigstore bundles and attaches them to models
// as OCI referrers. Verification lives in package verify.
//
// The package is filled by the signatures issue; it exists now to fix the
// layout.
package attest
