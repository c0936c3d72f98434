// Package atomicfile replaces small files whole: a reader sees the old
// bytes or the new ones, never a part, even after a crash. The
// transparency-log client's checkpoint and the witness's state use it.
package atomicfile
