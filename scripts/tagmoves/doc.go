// Command tagmoves measures tag moves: -n manifest PUTs by tag from -c
// concurrent clients against one registry, each PUT a new manifest (a
// different annotation) so that every one moves the tag. It is what
// scripts/bench-tlog.sh runs against cairn (with its transparency log on)
// and distribution.
//
// It first uploads the config and the one layer every manifest references
// (POST then PUT ?digest=, which every registry accepts), then runs the
// PUTs and prints one JSON line:
//
//	{"url":"...","concurrency":16,"moves":1000,"errors":0,"seconds":S,
//	 "moves_per_s":R,"p50_ms":X,"p99_ms":Y}
//
// moves_per_s counts 201 answers only; any other answer is an error.
package main
