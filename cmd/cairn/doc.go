// Command cairn is the model supply-chain registry and integrity verifier:
// one binary for the server and its clients.
//
//	serve, gc, scrub, log                 the registry (API at /v2/, web UI at /) and its upkeep
//	push, pull, ls, inspect, diff, tag    models and datasets as ModelPack artifacts
//	history, quarantine                   tag history; refusing a version's pulls
//	keygen, sign, attest, verify          signatures, SLSA provenance, OpenSSF Model Signing
//	run, scan                             the verification agent and the weight scanners
//	login, user, access, token            credentials, users, roles and API tokens
//
// One file per subcommand, each a constructor returning a *cobra.Command
// whose RunE returns errors; main maps them to exit codes in one place:
// 0 success or verified, 1 refused (a failed check, named), 2 could not
// run (usage, configuration, I/O, network). The packages below cmd/ hold
// the logic and know nothing of cobra.
package main
