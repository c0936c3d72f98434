package main

import (
	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify/model"
)

// runVerifyPulled verifies a directory written by cairn pull, offline,
// and writes the receipt.
func runVerifyPulled(cmd *cobra.Command, o verifyOptions, dir string) error {
	if !o.agentOptions.enabled() {
		return errNoSigners
	}
	o.include = model.Exclude(o.include, o.exclude)
	if err := model.CheckInclude(o.include); err != nil {
		return err
	}
	ag, err := o.newAgent()
	if err != nil {
		return err
	}
	do, err := o.dirOptions(o.include)
	if err != nil {
		return err
	}
	rc, err := ag.CheckDir(cmd.Context(), dir, do)
	err = client.ExplainOfflineDir(err, dir)
	return finishReceipt(cmd, o.agentOptions, dir, rc, o.asJSON, err)
}
