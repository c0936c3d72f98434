package directio

import (
	"os"
	"syscall"
)

func openDirect(name string) *os.File {
	f, err := os.OpenFile(name, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}
