package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cairn's version and the commit it was built from",
		Long: `Print the module version (a tag for go install cairn.dev/cairn/cmd/cairn@vX,
"(devel)" for a build from a clone), the VCS commit and its time the Go
toolchain recorded (with "+modified" for a build from a changed tree), and
the Go version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionString(debug.ReadBuildInfo()))
			return nil
		},
	}
}

// versionString is "cairn VERSION (commit REV[+modified], TIME) GOVERSION"
// from the build information the Go toolchain embeds (a build with
// -buildvcs=false has no commit: "unknown").
func versionString(bi *debug.BuildInfo, ok bool) string {
	version, rev, when, modified := "unknown", "unknown", "", false
	if ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		rev += "+modified"
	}
	if when != "" {
		rev += ", " + when
	}
	return fmt.Sprintf("cairn %s (commit %s) %s", version, rev, runtime.Version())
}
