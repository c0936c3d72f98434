package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "Model supply-chain registry and integrity verifier",
		Long: `cairn stores models and datasets as OCI artifacts with digests, signatures,
provenance and version history, and verifies them before they are loaded.

Start a registry:   cairn serve --data ./cairn-data
Show a tag's moves: cairn history 127.0.0.1:5000/models/llama:v1`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newGCCmd(),
		newScrubCmd(),
		newHistoryCmd(),
		newWitnessCmd(),
		newPushCmd(),
		newPullCmd(),
		newTagCmd(),
		newCopyCmd(), newExportCmd(), newImportCmd(), newSyncCmd(),
		newLoginCmd(), newLogoutCmd(),
		newLsCmd(), newInspectCmd(), newDiffCmd(),
		newKeygenCmd(),
		newSignCmd(),
		newVerifyCmd(),
		newAttestCmd(),
		newRunCmd(),
		newQuarantineCmd(),
		newScanCmd(),
		newUserCmd(), newAccessCmd(), newTokenCmd(),
		newLogCmd(),
		newRmCmd(), newCacheCmd(), newVersionCmd(),
	)
	return root
}

// newLogger returns the structured logger commands write to stderr.
func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
