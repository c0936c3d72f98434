package client

import (
	"fmt"
	"io/fs"
	"syscall"
)

// StatKey identifies a version of a file's content without reading it: its
// path, device, inode, size, modification and change times. Any write to
// the file changes its ctime, which no unprivileged user can set back.
func StatKey(path string, fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s\x00%d:%d:%d:%d.%d:%d.%d", path, st.Dev, st.Ino, fi.Size(),
		st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}
