// Package directio writes large sequential files with O_DIRECT where it can:
// whole, aligned blocks bypass the page cache (no page allocation, no copy,
// and little left for fsync), and everything else (the unaligned tail, or
// any write on a filesystem without O_DIRECT) goes through the ordinary
// file descriptor. Both descriptors refer to the same file, so the result
// is the same bytes either way; only the cost differs.
package directio
