package main

import (
	"os"
	"strings"
)

// isLocalPath reports whether a sign or verify argument names a local file
// or directory rather than a registry reference: it exists on disk, or is
// written as a path (./x, ../x, /x, ~/x). A reference such as
// 127.0.0.1:5000/models/llama:v1 is never a file one can stat by accident
// unless such a directory was made on purpose.
func isLocalPath(arg string) bool {
	if arg == "." || arg == ".." || strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../") ||
		strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "~/") {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}
