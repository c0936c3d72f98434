// Package agent is cairn's verification agent: the checks a model must
// pass before a workload may load it, shared by `cairn verify`, `cairn
// run` and `cairn pull --policy`, and by any Go program that embeds them.
//
// The checks, in order (the first failure refuses the model):
//
//  1. reference: the policy rule is the one of the repository the
//     operator names (never the one a directory records about itself), and
//     the manifest digest satisfies its pinning and allow-list
//     (Rule.CheckDigest);
//     With transparency: required, the registry's transparency log must
//     prove it too (a signed, witnessed checkpoint and the inclusion proof
//     of the tag's latest move to the digest, or of the manifest's push;
//     verify/tlogproof.Evidence): online the client also checks the
//     checkpoint against the last one it saw and that no later leaf moves
//     the tag; offline the kept checkpoint and proof are checked again;
//  2. signature, age and attestations: verify.Rule.Evaluate over the
//     bundles attest.CollectBundles found;
//  3. file digests: every file matches its layer (as it streamed, on a
//     pull; by hashing, for a directory);
//  4. unexpected files: the directory holds exactly the model's files
//     (the members of archive layers included), and DIR/.cairn holds only
//     what cairn writes there;
//  5. weight formats: every file is scanned (verify/scan) and judged by
//     verify.Rule.CheckFile: unsafe is refused, "not scanned" is refused
//     for weights, and a formats list admits only files proved to be of a
//     listed format.
//
// Agent.CheckMetadata runs steps 1 and 2 on a Target (what a registry or a
// directory says the model is); Agent.CheckFiles runs steps 3 to 5 on a
// directory of its files; Agent.CheckDir runs them all on a directory that
// cairn pull wrote, offline. Pulling with the checks (staging, then a move
// into place only when everything passed) is registry/client.Pull.
//
// # Errors
//
// A refusal is an error wrapping verify.ErrVerification (exit status 1 in
// the CLI); any other error means the checks could not be made (usage,
// configuration, I/O: exit status 2). A refusal never leaves a partly
// checked model in place: callers check a staging directory and move it.
//
// # The receipt
//
// Every check that ran is recorded in a Receipt, whose JSON form (written
// to DIR/.cairn/receipt.json by the CLI, or --receipt FILE, and printed by
// --json) is a stable contract for scripts:
//
//	{
//	  "verified": true,                  // every check passed
//	  "reference": "reg/m:v1",           // as given (a directory's path offline)
//	  "repository": "reg/m",             // HOST/REPO whose rule applied
//	  "digest": "sha256:...",            // the manifest digest
//	  "dir": "/models",                  // the directory checked, if any
//	  "policy": "policy.yaml",           // the policy's name
//	  "rule": "policy.yaml:3 (rules[0], match \"reg/*\")",
//	  "checks": [{"check": "signature", "ok": true, "detail": "signed by release.pub"}, ...],
//	  "signature": {"predicateType": "...", "signer": "...", "referrer": "sha256:..."},
//	  "attestations": [...],             // the required attestations that verified
//	  "files": [{"path": "model.safetensors", "size": 1, "digest": "sha256:...",
//	             "hashed": true, "weight": true, "format": "safetensors",
//	             "verdict": "safe", "safe": true, "findings": [...]}, ...],
//	  "refusal": "...",                  // why the model was refused; absent when verified
//	  "time": "2026-12-07T12:00:00Z"
//	}
//
// Fields are only ever added. "files" lists every file checked, members of
// archive layers included (with "layer", the archive layer's digest), and
// "verdict" is one of "safe", "unsafe", "not scanned".
//
// # DIR/.cairn
//
// A directory written by cairn pull holds, beside the model's files:
//
//	.cairn/pull.json              what was pulled: a cache, never an authority
//	.cairn/manifest.json          the manifest (its digest is computed from the bytes)
//	.cairn/config.json            the config (checked against the manifest)
//	.cairn/referrers.json         an OCI index of the referrers (signatures, attestations)
//	.cairn/referrers/<hex>.json   each referrer manifest
//	.cairn/referrers/<hex>        each small layer of a referrer (bundles)
//	.cairn/receipt.json           the last receipt
//	.cairn/checkpoint             the transparency log's signed checkpoint (transparency: required)
//	.cairn/inclusion.json         the inclusion proof of the leaf that says what the reference meant
//
// Only what a signature covers is trusted: the manifest by its digest
// (signed), the config and files by the manifest, the bundles by their own
// verification. pull.json is read for nothing but display; any other file
// under .cairn is refused as unexpected.
package agent
