package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// runVerifyPulled verifies a directory that cairn pull wrote, against the
// manifest and signatures it recorded in DIR/.cairn.
func runVerifyPulled(cmd *cobra.Command, o verifyOptions, dir string) error {
	return fmt.Errorf("%s: no model.sig in %s; verifying a pulled directory (%s/.cairn) is not implemented yet", dir, dir, dir)
}
