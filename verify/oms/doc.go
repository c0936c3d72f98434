// Package oms reads, checks and verifies OpenSSF Model Signing (OMS) v1.0
// signatures of local models, the model.sig files of
// github.com/sigstore/model-transparency (the reference implementation,
// `model_signing`), and serializes models into what such a signature
// covers. Signing itself is attest.SignOMS.
//
// # Format
//
// model.sig is a Sigstore bundle v0.3 holding a DSSE envelope (payload
// type application/vnd.in-toto+json) over an in-toto Statement v1:
//
//	{"_type": "https://in-toto.io/Statement/v1",
//	 "subject": [{"name": "<model dir name>", "digest": {"sha256": "<manifest digest>"}}],
//	 "predicateType": "https://model_signing/signature/v1.0",
//	 "predicate": {
//	   "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": false,
//	                     "ignore_paths": [".git", "model.sig", ...]},
//	   "resources": [{"name": "d0/f00", "algorithm": "sha256", "digest": "<hex>"}, ...]}}
//
// A resource is a regular file (its slash path from the model directory,
// "." when the model is one file) or, with method "shards", a piece of
// one (path:start:end, algorithm sha256-sharded-SIZE, shard_size in the
// serialization). Resources are sorted by path compared element by element
// (Python's PurePosixPath order: "a/b" before "a.b"), then by offset; the
// subject digest is SHA-256 over their raw digests concatenated in that
// order. Serialize builds the resources of a directory or file;
// Manifest.Statement writes the statement; ParseStatement reads one back.
//
// # Verification
//
// Verify is VerifySignature (ParseBundle, ParseStatement, then the
// signature with sigstore-go against a Trust), then Serialize of the model
// on disk with the signature's own serialization parameters and ignore
// paths, then Compare. Three kinds of trust:
//
//   - public keys (`model_signing sign key`): sigstore-go's Verifier with
//     the key as trusted material, whatever hint the bundle names;
//   - certificate authorities (`model_signing sign certificate`): the
//     bundle carries the leaf and intermediates, which must chain to a
//     trusted CA now; sigstore-go's FulcioCertificateAuthority.Verify
//     checks the chain and VerifySignatureWithArtifactDigests the envelope
//     (its Verifier would demand a subject alternative name, which these
//     leaves lack, so no identity is checked);
//   - keyless identities with a trusted root (`model_signing sign
//     sigstore`): sigstore-go's Verifier, offline, at the times the
//     bundle's own transparency log entries and timestamps prove.
//
// Signatures of model_signing v0.2 (predicate
// https://model_signing/Digests/v0.1, a subject per file, and a DSSE
// encoding v0.2 computed wrongly) are accepted through the reference's
// compatibility path for keys and CAs; see compat.go.
//
// # Invariants and caveats
//
// The package never logs. Refusals wrap verify.ErrVerification
// (ErrMalformed, ErrUntrusted, ErrModelMismatch); ErrUnsupported marks
// signatures it cannot check (BLAKE2 or BLAKE3 hashes). Every size an
// attacker controls is bounded: the bundle by verify.MaxBundleSize, the
// resources by MaxResources, names by MaxPathLength, recorded ignore paths
// by MaxIgnorePaths. Models are read through an os.Root, so a symlink out
// of the model is refused even where the signature allows symlinks (the
// reference follows it). DefaultIgnorePaths (.git and friends) are left
// out as the reference does by default, unless the signature covers files
// under them. Certificate chains are checked at the current time (the
// reference uses the leaf's notBefore), so an expired signing certificate
// is refused.
package oms
