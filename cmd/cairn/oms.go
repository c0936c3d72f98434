package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// runSignLocal signs a local model directory or file with OpenSSF Model
// Signing (model.sig).
func runSignLocal(cmd *cobra.Command, o signOptions, path string) error {
	return errors.New("signing a local directory is not implemented yet")
}

// runVerifyLocal verifies a local model directory or file.
func runVerifyLocal(cmd *cobra.Command, o verifyOptions, path string) error {
	return errors.New("verifying a local directory is not implemented yet")
}
