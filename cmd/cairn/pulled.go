package main

import (
	"github.com/spf13/cobra"
)

// runVerifyPulled verifies a directory written by cairn pull, offline,
// from what pull recorded in DIR/.cairn, and writes the receipt.
func runVerifyPulled(cmd *cobra.Command, o verifyOptions, dir string) error {
	if !o.agentOptions.enabled() {
		return errNoSigners
	}
	rc, err := verifyDir(cmd.Context(), o.agentOptions, dir)
	if rc != nil && len(rc.Checks) > 0 {
		if perr := printReceipt(cmd, rc, o.asJSON); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}
