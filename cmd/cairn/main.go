package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"cairn.dev/cairn/registry/client"
)

// Exit codes, relied on by scripts: 0 success or verified, 1 refused or a
// failed check, 2 could not run (usage, configuration, I/O, network).
const (
	exitOK      = 0
	exitRefused = 1
	exitError   = 2
)

// exitErr carries an exit code through cobra's RunE.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// refused wraps err so that main exits 1.
func refused(err error) error { return &exitErr{code: exitRefused, err: err} }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// CAIRN_CPUPROFILE=FILE writes a CPU profile of the command, for
	// performance work (go tool pprof FILE).
	if p := os.Getenv("CAIRN_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	err = client.Explain(err)
	fmt.Fprintln(os.Stderr, "cairn:", err)
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitError
}
