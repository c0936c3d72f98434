// Command cairn is the model supply-chain registry and integrity verifier:
// one binary for the server (serve), its maintenance (gc, scrub) and the
// client commands.
package main
