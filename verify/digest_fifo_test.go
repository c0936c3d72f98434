//go:build unix

package verify_test

import "syscall"

func init() { mkfifo = func(path string) error { return syscall.Mkfifo(path, 0o644) } }
