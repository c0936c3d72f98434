// Package attest makes and loads signing keys and, as the signatures issue
// lands, builds in-toto statements (SLSA provenance, cosign signatures),
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
// # Coming
//
// SLSA v1 provenance with lineage in resolvedDependencies, keyless signing,
// and OpenSSF Model Signing for local directories.
//
// attest may import verify, never registry or web.
package attest
