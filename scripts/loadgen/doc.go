// Command loadgen is a small closed-loop HTTP load generator used by
// scripts/bench.sh to measure manifest GET throughput.
//
// It starts -c workers that each issue GET requests to -url back to back for
// -d, reusing keep-alive connections from one shared http.Transport, reads and
// discards every body, and counts any non-200 answer or transport error as an
// error. It prints one JSON line:
//
//	{"url":"...","concurrency":16,"duration_s":10.0,"requests":N,"errors":E,
//	 "rps":R,"p50_ms":X,"p99_ms":Y,"avg_body_bytes":B}
//
// rps counts successful (200) requests only; avg_body_bytes is the mean body
// size of those (a sanity check that real manifests were served). Latencies
// are measured over all completed requests (successful or not).
//
// With -bearer TOKEN every request carries "Authorization: Bearer TOKEN".
// With -login USER:PASSWORD loadgen first gets a token the way registry
// clients do: an unauthenticated GET of -url is answered 401 with a Bearer
// challenge, and its realm, asked with Basic credentials for the
// challenge's service and scope, answers the token (the time this takes is
// not measured). "auth" in the output says which was used.
//
// Only the standard library is used.
package main
