//go:build !linux

package cas

import "os"

// startWriteback is a no-op where sync_file_range does not exist; the fsync
// at commit does all the work.
func startWriteback(f *os.File, off, n int64) {}
