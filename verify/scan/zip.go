package scan

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Zip record signatures.
const (
	sigLocal    = 0x04034b50
	sigCentral  = 0x02014b50
	sigEnd      = 0x06054b50
	sigEnd64    = 0x06064b50
	sigLocator  = 0x07064b50
	sigDescript = 0x08074b50
)

// General-purpose flag bits.
const (
	flagEncrypted  = 1 << 0
	flagDescriptor = 1 << 3
	flagPatched    = 1 << 5
	flagStrong     = 1 << 6
	flagUTF8       = 1 << 11
	flagMasked     = 1 << 13
	// okFlags are the bits a benign archive has: deflate options (1, 2),
	// data descriptor (3, written by PyTorch) and UTF-8 names (11).
	okFlags = 1<<1 | 1<<2 | flagDescriptor | flagUTF8
)

const (
	endLen     = 22
	end64Len   = 56
	locatorLen = 20
	centralLen = 46
	localLen   = 30
	sat16      = 0xffff
	sat32      = 0xffffffff
)

// zipEntry is one member, as the central directory and the local header
// agree it is.
type zipEntry struct {
	name          string
	flags, method uint16
	crc           uint32
	csize, usize  uint64
	hdr           uint64 // local header offset
	data          uint64 // offset of the data
	end           uint64 // end of the data and its descriptor
	ok            bool   // passed every check: may be read
	file          *zip.File
}

// zipArchive is a zip archive that passed the archive-wide checks.
type zipArchive struct {
	r       io.ReaderAt
	entries []*zipEntry
	byName  map[string]*zipEntry
}

// le reads little-endian fields from a byte slice.
type le struct {
	b   []byte
	bad bool
}

func (c *le) take(n int) []byte {
	if len(c.b) < n {
		c.bad, c.b = true, nil
		return make([]byte, n)
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}
func (c *le) u16() uint16 { return binary.LittleEndian.Uint16(c.take(2)) }
func (c *le) u32() uint32 { return binary.LittleEndian.Uint32(c.take(4)) }
func (c *le) u64() uint64 { return binary.LittleEndian.Uint64(c.take(8)) }

// readAt reads exactly n bytes at off, or fails.
func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	k, err := r.ReadAt(b, off)
	if k == n {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// locator returns the zip64 end locator before the end record at endAt,
// or nil.
func locator(r io.ReaderAt, endAt int64) []byte {
	if endAt < locatorLen {
		return nil
	}
	loc, err := readAt(r, endAt-locatorLen, locatorLen)
	if err != nil || binary.LittleEndian.Uint32(loc) != sigLocator {
		return nil
	}
	return loc
}

// findEnd returns how many end-of-central-directory records end the file.
func findEnd(r io.ReaderAt, size int64) int {
	n, _ := endRecords(r, size)
	return n
}

// endRecords counts the end-of-central-directory records that end the
// file (a signature whose comment runs exactly to the end) and returns
// the offset of the one nearest the start.
func endRecords(r io.ReaderAt, size int64) (n int, at int64) {
	if size < endLen {
		return 0, 0
	}
	tailLen := min(size, endLen+sat16)
	tail, err := readAt(r, size-tailLen, int(tailLen))
	if err != nil {
		return 0, 0
	}
	for i := len(tail) - endLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(tail[i:]) != sigEnd {
			continue
		}
		if int(binary.LittleEndian.Uint16(tail[i+20:]))+i+endLen == len(tail) {
			n++
			at = size - tailLen + int64(i)
		}
	}
	return n, at
}

// openZip checks the archive structure and every entry, and returns the
// archive, or nil when it cannot be read at all (the findings say why).
func (s *scanner) openZip(r io.ReaderAt, size int64, entry string) *zipArchive {
	bad := func(rule, format string, args ...any) *zipArchive {
		s.add(Unsafe, rule, entry, -1, format, args...)
		return nil
	}
	count, endAt := endRecords(r, size)
	switch {
	case count == 0:
		return bad("zip.structure", "no end of central directory record ends the file")
	case count > 1:
		return bad("zip.structure", "%d end of central directory records end the file: readers disagree on which one counts", count)
	}
	rec, err := readAt(r, endAt, endLen)
	if err != nil {
		s.contentErr(err, entry)
		return nil
	}
	c := &le{b: rec[4:]}
	disk, cdDisk, diskEntries, entries := uint32(c.u16()), uint32(c.u16()), uint64(c.u16()), uint64(c.u16())
	cdSize, cdOff := uint64(c.u32()), uint64(c.u32())
	cdEnd := uint64(endAt)
	saturated := disk == sat16 || cdDisk == sat16 || diskEntries == sat16 || entries == sat16 || cdSize == sat32 || cdOff == sat32
	if loc := locator(r, endAt); loc != nil {
		lc := &le{b: loc[4:]}
		locDisk, recOff, disks := lc.u32(), lc.u64(), lc.u32()
		if locDisk != 0 || disks != 1 {
			return bad("zip.structure", "multi-disk archives are not read")
		}
		if recOff > uint64(endAt-locatorLen) || uint64(endAt-locatorLen)-recOff < end64Len {
			return bad("zip.bounds", "zip64 end record at offset %d is outside the file", recOff)
		}
		rec64, err := readAt(r, int64(recOff), end64Len)
		if err != nil {
			s.contentErr(err, entry)
			return nil
		}
		c := &le{b: rec64}
		if c.u32() != sigEnd64 {
			return bad("zip.structure", "no zip64 end record where the locator says (offset %d)", recOff)
		}
		recSize := c.u64()
		c.take(4) // versions
		d64, cd64 := c.u32(), c.u32()
		de64, e64, cs64, co64 := c.u64(), c.u64(), c.u64(), c.u64()
		if recSize != uint64(endAt-locatorLen)-recOff-12 {
			return bad("zip.structure", "the zip64 end record does not end where its locator starts")
		}
		for _, p := range []struct{ v32, v64, sat uint64 }{
			{uint64(disk), uint64(d64), sat16}, {uint64(cdDisk), uint64(cd64), sat16},
			{diskEntries, de64, sat16}, {entries, e64, sat16}, {cdSize, cs64, sat32}, {cdOff, co64, sat32},
		} {
			if p.v32 != p.sat && p.v32 != p.v64 {
				return bad("zip.structure", "the end record and the zip64 end record disagree")
			}
		}
		disk, cdDisk, diskEntries, entries, cdSize, cdOff = d64, cd64, de64, e64, cs64, co64
		cdEnd = recOff
	} else if saturated {
		return bad("zip.structure", "zip64 values in the end record, but no zip64 end record")
	}
	switch {
	case disk != 0 || cdDisk != 0 || diskEntries != entries:
		return bad("zip.structure", "multi-disk archives are not read")
	case entries > MaxZipEntries:
		return bad("zip.limit", "%d entries: more than MaxZipEntries (%d)", entries, MaxZipEntries)
	case cdSize > MaxZipDirectory:
		return bad("zip.limit", "a central directory of %d bytes: more than MaxZipDirectory (%d)", cdSize, MaxZipDirectory)
	case cdOff > cdEnd || cdEnd-cdOff != cdSize:
		return bad("zip.structure", "the central directory (offset %d, %d bytes) does not end where the end record starts (%d): bytes before the archive, or a forged directory", cdOff, cdSize, cdEnd)
	case entries*centralLen > cdSize:
		return bad("zip.structure", "%d entries cannot fit a central directory of %d bytes", entries, cdSize)
	}
	cd, err := readAt(r, int64(cdOff), int(cdSize))
	if err != nil {
		s.contentErr(err, entry)
		return nil
	}
	a := &zipArchive{r: r, byName: map[string]*zipEntry{}}
	rest := cd
	for i := uint64(0); i < entries; i++ {
		e, n, why := parseCentral(rest)
		if why != "" {
			return bad("zip.structure", "central directory record %d: %s", i, why)
		}
		rest = rest[n:]
		a.entries = append(a.entries, e)
	}
	if len(rest) != 0 {
		return bad("zip.structure", "%d bytes after the last central directory record", len(rest))
	}
	for _, e := range a.entries {
		e.ok = s.checkEntry(r, e, cdOff, join(entry, e.name))
		if prev := a.byName[e.name]; prev != nil {
			s.add(Unsafe, "zip.name", join(entry, e.name), -1, "the name appears twice: readers disagree on which entry counts")
			e.ok, prev.ok = false, false
			continue
		}
		a.byName[e.name] = e
	}
	s.checkLayout(a, entry)
	s.crossCheck(a, size, entry)
	return a
}

// parseCentral parses one central directory record.
func parseCentral(b []byte) (e *zipEntry, n int, why string) {
	c := &le{b: b}
	if c.u32() != sigCentral {
		return nil, 0, "bad signature"
	}
	c.take(4) // versions
	e = &zipEntry{flags: c.u16(), method: c.u16()}
	c.take(4) // time, date
	e.crc = c.u32()
	e.csize, e.usize = uint64(c.u32()), uint64(c.u32())
	nameLen, extraLen, commentLen := int(c.u16()), int(c.u16()), int(c.u16())
	disk := uint32(c.u16())
	c.take(6) // attributes
	e.hdr = uint64(c.u32())
	name, extra := c.take(nameLen), c.take(extraLen)
	c.take(commentLen)
	if c.bad {
		return nil, 0, "truncated"
	}
	e.name = string(name)
	if !zip64Fields(extra, &e.usize, &e.csize, &e.hdr, &disk) {
		return nil, 0, fmt.Sprintf("entry %q: a bad or missing zip64 extra field", e.name)
	}
	if disk != 0 {
		return nil, 0, fmt.Sprintf("entry %q is on another disk", e.name)
	}
	return e, len(b) - len(c.b), ""
}

// zip64Fields replaces the saturated values among those given by the ones
// of the zip64 extra field (which lists them in this order). It fails on
// a malformed extra field, two zip64 fields, or a saturated value the
// field does not give.
func zip64Fields(extra []byte, usize, csize, hdr *uint64, disk *uint32) bool {
	var z64 []byte
	found := 0
	for len(extra) > 0 {
		if len(extra) < 4 {
			return false
		}
		id, n := binary.LittleEndian.Uint16(extra), int(binary.LittleEndian.Uint16(extra[2:]))
		if len(extra) < 4+n {
			return false
		}
		if id == 0x0001 {
			z64 = extra[4 : 4+n]
			found++
		}
		extra = extra[4+n:]
	}
	if found > 1 {
		return false
	}
	c := &le{b: z64}
	for _, v := range []*uint64{usize, csize, hdr} {
		if v != nil && *v == sat32 {
			*v = c.u64()
		}
	}
	if disk != nil && *disk == sat16 {
		*disk = c.u32()
	}
	return !c.bad
}

// checkEntry checks an entry's name, flags and method, its local header
// against the central directory, and its bounds; it records what is
// wrong and reports whether the entry may be read.
func (s *scanner) checkEntry(r io.ReaderAt, e *zipEntry, cdOff uint64, entry string) bool {
	bad := func(rule, format string, args ...any) bool {
		s.add(Unsafe, rule, entry, -1, format, args...)
		return false
	}
	if why := nameProblem(e.name); why != "" {
		return bad("zip.name", "%s", why)
	}
	if why := flagProblem(e.flags, e.method); why != "" {
		rule := "zip.flags"
		if e.flags&(flagEncrypted|flagStrong|flagMasked) != 0 || e.method == 99 {
			rule = "zip.encrypted"
		}
		return bad(rule, "%s", why)
	}
	if e.method != zip.Store && e.method != zip.Deflate {
		return bad("zip.method", "compression method %d: only stored and deflated members are read", e.method)
	}
	if e.method == zip.Store && e.csize != e.usize {
		return bad("zip.header", "stored, but %d bytes compressed and %d uncompressed", e.csize, e.usize)
	}
	if e.method == zip.Deflate && e.usize > 1<<20 && e.usize/max(e.csize, 1) > MaxZipRatio {
		return bad("zip.limit", "compressed %d:1, more than MaxZipRatio (%d:1)", e.usize/max(e.csize, 1), MaxZipRatio)
	}
	if e.hdr >= cdOff || cdOff-e.hdr < localLen {
		return bad("zip.bounds", "local header offset %d is past the data (the central directory starts at %d)", e.hdr, cdOff)
	}
	lh, err := readAt(r, int64(e.hdr), localLen)
	if err != nil {
		s.contentErr(err, entry)
		return false
	}
	c := &le{b: lh}
	if c.u32() != sigLocal {
		return bad("zip.header", "no local header at offset %d", e.hdr)
	}
	c.take(2)
	flags, method := c.u16(), c.u16()
	c.take(4)
	crc, csize, usize := c.u32(), uint64(c.u32()), uint64(c.u32())
	nameLen, extraLen := uint64(c.u16()), uint64(c.u16())
	if cdOff-e.hdr-localLen < nameLen+extraLen {
		return bad("zip.bounds", "the local header's name and extra field run past the data")
	}
	rest, err := readAt(r, int64(e.hdr+localLen), int(nameLen+extraLen))
	if err != nil {
		s.contentErr(err, entry)
		return false
	}
	if name := string(rest[:nameLen]); name != e.name {
		return bad("zip.header", "the local header names %q, the central directory %q", name, e.name)
	}
	if flags != e.flags || method != e.method {
		return bad("zip.header", "the local header's flags (0x%04x) or method (%d) differ from the central directory's (0x%04x, %d)", flags, method, e.flags, e.method)
	}
	if !zip64Fields(rest[nameLen:], &usize, &csize, nil, nil) {
		if e.flags&flagDescriptor == 0 {
			return bad("zip.header", "a bad zip64 extra field in the local header")
		}
		csize, usize = 0, 0 // the descriptor and the central directory say
	}
	e.data = e.hdr + localLen + nameLen + extraLen
	if e.csize > cdOff-e.data {
		return bad("zip.bounds", "%d bytes of data at offset %d run past the data (the central directory starts at %d)", e.csize, e.data, cdOff)
	}
	e.end = e.data + e.csize
	if e.flags&flagDescriptor == 0 {
		if crc != e.crc || csize != e.csize || usize != e.usize {
			return bad("zip.header", "the local header's CRC and sizes (%08x, %d, %d) differ from the central directory's (%08x, %d, %d)", crc, csize, usize, e.crc, e.csize, e.usize)
		}
		return true
	}
	// With a data descriptor the local values are zero (or right), and the
	// descriptor after the data must say what the central directory says.
	if (crc != 0 && crc != e.crc) || (csize != 0 && csize != e.csize) || (usize != 0 && usize != e.usize) {
		return bad("zip.header", "the local header's CRC and sizes (%08x, %d, %d) differ from the central directory's (%08x, %d, %d)", crc, csize, usize, e.crc, e.csize, e.usize)
	}
	d, err := readAt(r, int64(e.end), int(min(24, cdOff-e.end)))
	if err != nil {
		s.contentErr(err, entry)
		return false
	}
	n := descriptorLen(d, e)
	if n == 0 {
		return bad("zip.descriptor", "no data descriptor after the data matches the central directory's CRC and sizes")
	}
	e.end += uint64(n)
	return true
}

// descriptorLen returns the length of the data descriptor at the start
// of d that matches e, or 0.
func descriptorLen(d []byte, e *zipEntry) int {
	for _, sig := range []bool{true, false} {
		for _, wide := range []bool{false, true} {
			c := &le{b: d}
			if sig && c.u32() != sigDescript {
				continue
			}
			crc := c.u32()
			var cs, us uint64
			if wide {
				cs, us = c.u64(), c.u64()
			} else {
				cs, us = uint64(c.u32()), uint64(c.u32())
			}
			if !c.bad && crc == e.crc && cs == e.csize && us == e.usize {
				return len(d) - len(c.b)
			}
		}
	}
	return 0
}

// nameProblem says what is wrong with an entry name, if anything.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "an empty name"
	case !utf8.ValidString(name):
		return fmt.Sprintf("name %q is not UTF-8: readers decode it differently", name)
	case strings.ContainsRune(name, 0):
		return fmt.Sprintf("name %q holds a NUL byte", name)
	case strings.ContainsRune(name, '\\'):
		return fmt.Sprintf("name %q holds a backslash", name)
	case strings.HasPrefix(name, "/"):
		return fmt.Sprintf("name %q is absolute", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Sprintf("name %q escapes the archive", name)
		}
	}
	return ""
}

// flagProblem names the flag bits no benign archive has.
func flagProblem(flags, method uint16) string {
	var why []string
	if flags&flagEncrypted != 0 {
		why = append(why, "encrypted (flag bit 0): a password is needed to read it")
	}
	if flags&flagPatched != 0 {
		why = append(why, "compressed patched data (flag bit 5)")
	}
	if flags&flagStrong != 0 {
		why = append(why, "strong encryption (flag bit 6)")
	}
	if flags&flagMasked != 0 {
		why = append(why, "masked local header values (flag bit 13)")
	}
	if rest := flags &^ (okFlags | flagEncrypted | flagPatched | flagStrong | flagMasked); rest != 0 {
		why = append(why, fmt.Sprintf("unknown flag bits 0x%04x", rest))
	}
	if method == 99 {
		why = append(why, "AES encryption (method 99)")
	}
	return strings.Join(why, "; ")
}

// checkLayout checks that the entries start at offset 0 and do not
// overlap.
func (s *scanner) checkLayout(a *zipArchive, entry string) {
	var placed []*zipEntry
	for _, e := range a.entries {
		if e.end > 0 {
			placed = append(placed, e)
		}
	}
	slices.SortFunc(placed, func(x, y *zipEntry) int {
		switch {
		case x.hdr < y.hdr:
			return -1
		case x.hdr > y.hdr:
			return 1
		}
		return 0
	})
	if len(placed) > 0 && placed[0].hdr != 0 {
		s.add(Unsafe, "zip.structure", entry, 0, "%d bytes before the first entry: another format could be hiding there", placed[0].hdr)
	}
	for i := 1; i < len(placed); i++ {
		p, e := placed[i-1], placed[i]
		if e.hdr < p.end {
			s.add(Unsafe, "zip.bounds", join(entry, e.name), int64(e.hdr), "overlaps %q: one byte range read as two entries", p.name)
			p.ok, e.ok = false, false
		}
	}
}

// crossCheck reads the archive with archive/zip too, which must see the
// same entries at the same offsets; the entries are then read through it
// (which checks sizes and CRC-32s).
func (s *scanner) crossCheck(a *zipArchive, size int64, entry string) {
	zr, err := zip.NewReader(a.r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if s.src.err != nil {
			return
		}
		s.add(Unsafe, "zip.differential", entry, -1, "archive/zip does not read the archive: %v", err)
		for _, e := range a.entries {
			e.ok = false
		}
		return
	}
	if len(zr.File) != len(a.entries) {
		s.add(Unsafe, "zip.differential", entry, -1, "archive/zip sees %d entries, the central directory has %d", len(zr.File), len(a.entries))
		for _, e := range a.entries {
			e.ok = false
		}
		return
	}
	for i, f := range zr.File {
		e := a.entries[i]
		if !e.ok {
			continue
		}
		off, err := f.DataOffset()
		if err != nil || f.Name != e.name || uint64(off) != e.data || f.CompressedSize64 != e.csize ||
			f.UncompressedSize64 != e.usize || f.CRC32 != e.crc || f.Method != e.method || f.Flags != e.flags {
			s.add(Unsafe, "zip.differential", join(entry, e.name), -1, "archive/zip reads this entry differently")
			e.ok = false
			continue
		}
		e.file = f
	}
}

// openMember opens an entry's data, counting the bytes against
// MaxZipDecompressed.
func (s *scanner) openMember(e *zipEntry) (io.ReadCloser, error) {
	rc, err := e.file.Open()
	if err != nil {
		return nil, err
	}
	return &budgetReader{rc: rc, s: s}, nil
}

// readMember reads a whole entry of at most limit bytes.
func (s *scanner) readMember(e *zipEntry, limit int64) ([]byte, error) {
	rc, err := s.openMember(e)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	b.Grow(int(min(e.usize, uint64(limit), 64<<10))) // declared sizes are claims: grow as data comes
	_, err = io.Copy(&b, io.LimitReader(rc, limit+1))
	if err == nil && int64(b.Len()) > limit {
		err = fmt.Errorf("more than %d bytes", limit)
	}
	return b.Bytes(), err
}

type budgetReader struct {
	rc io.ReadCloser
	s  *scanner
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.s.unzipped >= maxZipDecompressed {
		return 0, errBudget
	}
	if left := maxZipDecompressed - b.s.unzipped; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.rc.Read(p)
	b.s.unzipped += int64(n)
	return n, err
}

func (b *budgetReader) Close() error { return b.rc.Close() }

// zipAt scans a zip archive: a PyTorch archive, a .keras archive, an .npz
// or any other zip, whose members are scanned by content. A zip of one
// member that is none of those is that member, inside "zip"; a zip of
// several is FormatArchive.
func (s *scanner) zipAt(r io.ReaderAt, size int64, entry string, depth int) content {
	if depth >= MaxNesting {
		s.add(Unsafe, "archive.nesting", entry, -1, "an archive nested more than %d deep (MaxNesting): not scanned", MaxNesting)
		return content{format: FormatArchive, variant: "zip"}
	}
	a := s.openZip(r, size, entry)
	if a == nil {
		return content{format: FormatArchive, variant: "zip"}
	}
	if prefix, ok := a.torchPrefix(); ok {
		return content{format: FormatPyTorch, variant: s.torchZip(a, prefix, entry, depth)}
	}
	if a.keras() {
		s.keras(a, entry, depth)
		return content{format: FormatKeras, variant: "keras"}
	}
	npz := len(a.entries) > 0
	var files []content
	for _, e := range a.entries {
		npz = npz && strings.HasSuffix(e.name, ".npy")
		if e.usize == 0 && strings.HasSuffix(e.name, "/") {
			continue // a directory
		}
		switch {
		case !e.ok:
			files = append(files, content{format: FormatUnknown})
		case e.name == "config.json":
			// Keras deserialises config.json before it looks for the
			// weights: check it as a Keras config in any zip.
			s.kerasConfigEntry(e, join(entry, e.name))
			files = append(files, content{format: FormatJSON})
		default:
			files = append(files, s.member(a, e, join(entry, e.name), depth))
		}
	}
	switch {
	case npz:
		return content{format: FormatNumPy, variant: "npz"}
	case len(files) == 1:
		return files[0].in("zip")
	}
	return content{format: FormatArchive, variant: "zip"}
}

// torchPrefix returns the folder of a PyTorch archive: the first path
// element of the first entry (as PyTorch's reader takes it), when
// PREFIX/data.pkl is an entry.
func (a *zipArchive) torchPrefix() (string, bool) {
	if len(a.entries) == 0 {
		return "", false
	}
	prefix, _, ok := strings.Cut(a.entries[0].name, "/")
	return prefix, ok && a.byName[prefix+"/data.pkl"] != nil
}

// torchZip scans a PyTorch archive: every .pkl entry as a pickle (torch
// unpickles data.pkl; a TorchScript archive, one with constants.pkl, is
// loaded by torch.jit.load, which also reads constants.pkl and .debug_pkl
// files). The data/ entries are raw tensor bytes and are not read. Entries
// outside the folder are scanned by content.
func (s *scanner) torchZip(a *zipArchive, prefix, entry string, depth int) string {
	ts := a.byName[prefix+"/constants.pkl"] != nil
	code := 0
	for _, e := range a.entries {
		rel, in := strings.CutPrefix(e.name, prefix+"/")
		if !in {
			if e.ok {
				s.member(a, e, join(entry, e.name), depth)
			}
			continue
		}
		if strings.HasPrefix(rel, "code/") && !strings.HasSuffix(rel, "/") {
			code++
		}
		if !e.ok || !(path.Ext(rel) == ".pkl" || ts && path.Ext(rel) == ".debug_pkl") {
			continue
		}
		rc, err := s.openMember(e)
		if err == nil {
			_, err = s.pickle(rc, join(entry, e.name), pickleOpts{torch: true, torchScript: ts})
			rc.Close()
		}
		s.contentErr(err, join(entry, e.name))
	}
	if code > 0 {
		s.add(Warning, "torch.code", join(entry, prefix+"/code/"), -1, "TorchScript code (%d entries under code/), compiled and run by torch.jit.load", code)
	}
	if ts {
		return "torchscript"
	}
	return "zip"
}
