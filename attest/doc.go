// Package attest makes and loads signing keys, builds in-toto statements
// (cosign signatures, SLSA provenance, OpenSSF Model Signing manifests),
// signs them into Sigstore bundles and attaches them to models as OCI
// referrers. Verification lives in package verify.
//
// # Keys (present)
//
// GenerateKey makes an ECDSA P-256 key, as `cosign generate-key-pair` does.
// MarshalPrivateKey writes PKCS#8 PEM, encrypted (PBES2: PBKDF2-HMAC-SHA256
// and AES-256-CBC, readable by OpenSSL) when a password is given;
// MarshalPublicKey writes PKIX PEM, the format of cosign.pub.
// LoadPrivateKey reads those, SEC1 and PKCS#1 keys, and cosign's encrypted
// keys ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
// scrypt and NaCl secretbox via go-securesystemslib). LoadPublicKey reads
// PKIX PEM.
//
// Invariants: inputs above MaxKeySize and PBKDF2 iteration counts above
// MaxPBKDF2Iterations are refused before any work; malformed input is an
// error, never a panic; a password that does not decrypt a key is an error
// wrapping ErrWrongPassword. The package never logs and never prompts: the
// command line gets passwords and passes them in.
//
// # Signing (present)
//
// NewKeypair wraps the crypto.Signer that LoadPrivateKey returns as a
// sigstore-go sign.Keypair. Statement builds an in-toto Statement v1 about a
// manifest digest; Sign and SignStatement sign it into a Sigstore bundle
// v0.3 holding a DSSE envelope (with a key: the key's hint, no certificate,
// no log entry), as `cosign sign --key` does; Attach pushes the bundle as an
// OCI referrer of the manifest exactly as cosign v3 does.
//
// # Provenance
//
// Provenance builds an SLSA provenance v1 predicate from BuildInfo, whose
// Dependencies (datasets, base model: OCI artifacts pinned by digest)
// become resolvedDependencies with oci:// URIs: the lineage package verify
// reads back. ParsePredicate bounds and validates a predicate file;
// Attest signs any predicate into a bundle that Attach attaches, as
// `cosign attest` does.
//
// # OpenSSF Model Signing
//
// SignOMS signs a local model's manifest (package verify/oms) into a
// model.sig bundle, with a key (NewOMSKeypair, whose hint is the
// reference implementation's) or a key plus certificate chain.
//
// Keyless signing (Fulcio and Rekor) is not done here; keyless
// signatures made by cosign or model_signing are verified by package
// verify.
//
// attest may import verify, never registry or web.
package attest
