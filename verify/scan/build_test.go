package scan_test

// Builders for the fixtures: pickles opcode by opcode, zip archives
// record by record (with the tricks the scanner must refuse), .npy,
// safetensors and GGUF files field by field. Everything is deterministic:
// no timestamps, no compressor whose output could change (deflated
// members use stored deflate blocks).

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
)

// pk builds a pickle.
type pk struct{ b []byte }

func pkl() *pk { return &pk{} }

func (p *pk) op(b ...byte) *pk { p.b = append(p.b, b...); return p }
func (p *pk) raw(s string) *pk { p.b = append(p.b, s...); return p }
func (p *pk) u16(v uint16) *pk { p.b = binary.LittleEndian.AppendUint16(p.b, v); return p }
func (p *pk) u32(v uint32) *pk { p.b = binary.LittleEndian.AppendUint32(p.b, v); return p }
func (p *pk) u64(v uint64) *pk { p.b = binary.LittleEndian.AppendUint64(p.b, v); return p }
func (p *pk) bytes() []byte    { return p.b }

func (p *pk) proto(n byte) *pk { return p.op(0x80, n) }
func (p *pk) stop() *pk        { return p.op('.') }
func (p *pk) mark() *pk        { return p.op('(') }

// Text opcodes (protocol 0).
func (p *pk) global(m, n string) *pk { return p.raw("c" + m + "\n" + n + "\n") }
func (p *pk) inst(m, n string) *pk   { return p.raw("i" + m + "\n" + n + "\n") }
func (p *pk) str(quoted string) *pk  { return p.raw("S" + quoted + "\n") }
func (p *pk) uni(s string) *pk       { return p.raw("V" + s + "\n") }
func (p *pk) put(i int) *pk          { return p.raw("p" + strconv.Itoa(i) + "\n") }
func (p *pk) get(i int) *pk          { return p.raw("g" + strconv.Itoa(i) + "\n") }
func (p *pk) int(s string) *pk       { return p.raw("I" + s + "\n") }

// Binary strings.
func (p *pk) sbu(s string) *pk { return p.op(0x8c, byte(len(s))).raw(s) } // SHORT_BINUNICODE
func (p *pk) bu(s string) *pk  { return p.op('X').u32(uint32(len(s))).raw(s) }
func (p *pk) bu8(s string) *pk { return p.op(0x8d).u64(uint64(len(s))).raw(s) }
func (p *pk) bs(s string) *pk  { return p.op('T').u32(uint32(len(s))).raw(s) } // BINSTRING
func (p *pk) sbs(s string) *pk { return p.op('U', byte(len(s))).raw(s) }       // SHORT_BINSTRING
func (p *pk) sbb(s string) *pk { return p.op('C', byte(len(s))).raw(s) }       // SHORT_BINBYTES

func (p *pk) memoize() *pk         { return p.op(0x94) }
func (p *pk) binput(i byte) *pk    { return p.op('q', i) }
func (p *pk) binget(i byte) *pk    { return p.op('h', i) }
func (p *pk) lbinput(i uint32) *pk { return p.op('r').u32(i) }
func (p *pk) lbinget(i uint32) *pk { return p.op('j').u32(i) }
func (p *pk) k(v byte) *pk         { return p.op('K', v) } // BININT1
func (p *pk) stackGlobal(m, n string) *pk {
	return p.sbu(m).memoize().sbu(n).memoize().op(0x93)
}

// Opcodes by name, for readability where a fixture spells them out.
const (
	opReduce      = 'R'
	opBuild       = 'b'
	opTuple       = 't'
	opTuple1      = 0x85
	opTuple2      = 0x86
	opTuple3      = 0x87
	opEmptyTuple  = ')'
	opEmptyDict   = '}'
	opEmptyList   = ']'
	opSetItems    = 'u'
	opSetItem     = 's'
	opAppends     = 'e'
	opAppend      = 'a'
	opNone        = 'N'
	opNewFalse    = 0x89
	opNewTrue     = 0x88
	opBinPersID   = 'Q'
	opNewObj      = 0x81
	opNewObjEx    = 0x92
	opObj         = 'o'
	opStackGlobal = 0x93
	opPop         = '0'
)

// torchStateDict is the data.pkl torch.save writes (protocol 2) for an
// OrderedDict holding one float tensor of 4 elements stored under key "0".
func torchStateDict() *pk {
	p := pkl().proto(2)
	p.global("collections", "OrderedDict").binput(0).op(opEmptyTuple, opReduce).binput(1)
	p.mark()
	p.bu("weight").binput(2)
	p.global("torch._utils", "_rebuild_tensor_v2").binput(3)
	p.mark() // arguments
	p.mark().bu("storage").binput(4).global("torch", "FloatStorage").binput(5).bu("0").bu("cpu").k(4).op(opTuple).binput(6).op(opBinPersID)
	p.k(0).k(4).op(opTuple1).k(1).op(opTuple1).op(opNewFalse)
	p.binget(0).op(opEmptyTuple, opReduce)
	p.op(opTuple, opReduce).binput(7)
	p.op(opSetItems)
	return p.stop()
}

// numpyObjects is the pickle np.save writes (protocol 3) after the header
// of an object array holding [1, "a"].
func numpyObjects() *pk {
	p := pkl().proto(3)
	p.global("numpy.core.multiarray", "_reconstruct").binput(0)
	p.global("numpy", "ndarray").binput(1)
	p.k(0).op(opTuple1).binput(2).sbb("b").binput(3).op(opTuple3).binput(4).op(opReduce).binput(5)
	p.mark().k(1).k(2).op(opTuple1)
	p.global("numpy", "dtype").binput(6).sbu("O8").op(opNewFalse, opNewTrue, opTuple3, opReduce).binput(7)
	p.mark().k(3).sbu("|").op(opNone, opNone, opNone).op('J').u32(0xffffffff).op('J').u32(0xffffffff).k(63).op(opTuple, opBuild)
	p.op(opNewFalse).op(opEmptyList).mark().k(1).sbu("a").op(opAppends).op(opTuple, opBuild)
	return p.stop()
}

// evil is a protocol 4 pickle that calls os.system.
func evil(cmd string) *pk {
	return pkl().proto(4).stackGlobal("os", "system").sbu(cmd).op(opTuple1, opReduce).stop()
}

// zf is one zip member, with the tricks a fixture plays on it.
type zf struct {
	name        string
	data        []byte
	deflate     bool    // method 8, as one stored deflate block
	method      *uint16 // another method number
	flags       uint16  // flag bits set in both headers
	descriptor  bool    // flag bit 3: zero local values, then a signed descriptor
	descCRC     *uint32 // a descriptor CRC that differs
	localName   string  // a local header name that differs
	crc         *uint32 // a CRC that differs (both headers)
	localSize   *uint32 // a local compressed size that differs
	size        *uint32 // central and local sizes that lie
	offset      *uint32 // the central directory's local header offset, forged
	centralOnly bool    // in the central directory only (at offset)
}

// zipOpts are archive-wide tricks.
type zipOpts struct {
	prefix  []byte // bytes before the archive
	adjust  bool   // offsets count the prefix (as `zip -A` makes them)
	comment []byte // archive comment
	cdGap   []byte // bytes between the central directory and the end record
	zip64   bool   // zip64 end record and locator
}

func ptr[T any](v T) *T { return &v }

// storedDeflate wraps b in one final stored deflate block.
func storedDeflate(b []byte) []byte {
	n := len(b)
	out := []byte{1, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)}
	return append(out, b...)
}

func mkzip(o zipOpts, files ...zf) []byte {
	le := binary.LittleEndian
	out := append([]byte(nil), o.prefix...)
	base := 0
	if !o.adjust {
		base = len(o.prefix)
	}
	var cd []byte
	for _, f := range files {
		method := uint16(0)
		body := f.data
		if f.deflate {
			method, body = 8, storedDeflate(f.data)
		}
		if f.method != nil {
			method = *f.method
		}
		crc := crc32.ChecksumIEEE(f.data)
		if f.crc != nil {
			crc = *f.crc
		}
		csize, usize := uint32(len(body)), uint32(len(f.data))
		if f.size != nil {
			csize, usize = *f.size, *f.size
		}
		flags := f.flags
		if f.descriptor {
			flags |= 1 << 3
		}
		offset := uint32(len(out) - base)
		if f.offset != nil {
			offset = *f.offset
		}
		if !f.centralOnly {
			lname := f.name
			if f.localName != "" {
				lname = f.localName
			}
			lcrc, lcs, lus := crc, csize, usize
			if f.descriptor {
				lcrc, lcs, lus = 0, 0, 0
			}
			if f.localSize != nil {
				lcs = *f.localSize
			}
			out = le.AppendUint32(out, 0x04034b50)
			out = le.AppendUint16(out, 20)
			out = le.AppendUint16(out, flags)
			out = le.AppendUint16(out, method)
			out = le.AppendUint32(out, 0x00210000) // 1980-01-01 00:00
			out = le.AppendUint32(out, lcrc)
			out = le.AppendUint32(out, lcs)
			out = le.AppendUint32(out, lus)
			out = le.AppendUint16(out, uint16(len(lname)))
			out = le.AppendUint16(out, 0)
			out = append(out, lname...)
			out = append(out, body...)
			if f.descriptor {
				dcrc := crc
				if f.descCRC != nil {
					dcrc = *f.descCRC
				}
				out = le.AppendUint32(out, 0x08074b50)
				out = le.AppendUint32(out, dcrc)
				out = le.AppendUint32(out, csize)
				out = le.AppendUint32(out, usize)
			}
		}
		cd = le.AppendUint32(cd, 0x02014b50)
		cd = le.AppendUint16(cd, 0x031e)
		cd = le.AppendUint16(cd, 20)
		cd = le.AppendUint16(cd, flags)
		cd = le.AppendUint16(cd, method)
		cd = le.AppendUint32(cd, 0x00210000)
		cd = le.AppendUint32(cd, crc)
		cd = le.AppendUint32(cd, csize)
		cd = le.AppendUint32(cd, usize)
		cd = le.AppendUint16(cd, uint16(len(f.name)))
		cd = le.AppendUint16(cd, 0)
		cd = le.AppendUint16(cd, 0)
		cd = le.AppendUint16(cd, 0)
		cd = le.AppendUint16(cd, 0)
		cd = le.AppendUint32(cd, 0o100644<<16)
		cd = le.AppendUint32(cd, offset)
		cd = append(cd, f.name...)
	}
	cdOff := uint32(len(out) - base)
	out = append(out, cd...)
	out = append(out, o.cdGap...)
	n := uint16(len(files))
	if o.zip64 {
		recAt := uint64(len(out) - base)
		out = le.AppendUint32(out, 0x06064b50)
		out = le.AppendUint64(out, 44)
		out = le.AppendUint16(out, 45)
		out = le.AppendUint16(out, 45)
		out = le.AppendUint32(out, 0)
		out = le.AppendUint32(out, 0)
		out = le.AppendUint64(out, uint64(n))
		out = le.AppendUint64(out, uint64(n))
		out = le.AppendUint64(out, uint64(len(cd)))
		out = le.AppendUint64(out, uint64(cdOff))
		out = le.AppendUint32(out, 0x07064b50)
		out = le.AppendUint32(out, 0)
		out = le.AppendUint64(out, recAt)
		out = le.AppendUint32(out, 1)
	}
	out = le.AppendUint32(out, 0x06054b50)
	out = le.AppendUint16(out, 0)
	out = le.AppendUint16(out, 0)
	if o.zip64 {
		out = le.AppendUint16(out, 0xffff)
		out = le.AppendUint16(out, 0xffff)
		out = le.AppendUint32(out, 0xffffffff)
		out = le.AppendUint32(out, 0xffffffff)
	} else {
		out = le.AppendUint16(out, n)
		out = le.AppendUint16(out, n)
		out = le.AppendUint32(out, uint32(len(cd)))
		out = le.AppendUint32(out, cdOff)
	}
	out = le.AppendUint16(out, uint16(len(o.comment)))
	return append(out, o.comment...)
}

// torchZip is a PyTorch archive around a data.pkl, written as torch does
// (data descriptors), with more entries after it.
func torchZip(dataPkl []byte, more ...zf) []byte {
	files := []zf{{name: "archive/data.pkl", data: dataPkl, descriptor: true}}
	files = append(files, more...)
	files = append(files,
		zf{name: "archive/data/0", data: make([]byte, 16), descriptor: true},
		zf{name: "archive/byteorder", data: []byte("little"), descriptor: true},
		zf{name: "archive/version", data: []byte("3\n"), descriptor: true})
	return mkzip(zipOpts{}, files...)
}

// npy builds a .npy file: version major, the header dict text (padded to
// 64 bytes with spaces and a newline, as NumPy does), then data.
func npy(major byte, header string, data []byte) []byte {
	le := binary.LittleEndian
	lenSize := 2
	if major > 1 {
		lenSize = 4
	}
	pre := 8 + lenSize
	total := pre + len(header) + 1
	pad := (64 - total%64) % 64
	h := header + strings.Repeat(" ", pad) + "\n"
	out := append([]byte("\x93NUMPY"), major, 0)
	if lenSize == 2 {
		out = le.AppendUint16(out, uint16(len(h)))
	} else {
		out = le.AppendUint32(out, uint32(len(h)))
	}
	out = append(out, h...)
	return append(out, data...)
}

// st builds a safetensors file from its header text and data.
func st(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// gg builds a GGUF file, field by field.
type gg struct {
	b  []byte
	be bool
	v1 bool
}

func (g *gg) order() binary.AppendByteOrder {
	if g.be {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
func (g *gg) raw(s string) *gg { g.b = append(g.b, s...); return g }
func (g *gg) u8(v byte) *gg    { g.b = append(g.b, v); return g }
func (g *gg) u32(v uint32) *gg { g.b = g.order().AppendUint32(g.b, v); return g }
func (g *gg) u64(v uint64) *gg { g.b = g.order().AppendUint64(g.b, v); return g }
func (g *gg) n(v uint64) *gg {
	if g.v1 {
		return g.u32(uint32(v))
	}
	return g.u64(v)
}
func (g *gg) str(s string) *gg { return g.n(uint64(len(s))).raw(s) }

// kvStr appends a string metadata entry.
func (g *gg) kvStr(k, v string) *gg { return g.str(k).u32(8).str(v) }

// tensor appends a tensor info.
func (g *gg) tensor(name string, typ uint32, off uint64, dims ...uint64) *gg {
	g.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		g.n(d)
	}
	return g.u32(typ).u64(off)
}

// align pads to a multiple of a.
func (g *gg) align(a int) *gg {
	for len(g.b)%a != 0 {
		g.b = append(g.b, 0)
	}
	return g
}

func ggufHead(version uint32, tensors, kvs uint64) *gg {
	g := &gg{v1: version == 1}
	return g.raw("GGUF").u32(version).n(tensors).n(kvs)
}

// Compressed streams, byte by byte: deflate (gzip, zlib), xz and zstd
// keep their data in stored blocks; bzip2 and lzma-alone have no stored
// form, so their fixtures are the bytes `bzip2 -9` and `xz
// --format=lzma` (XZ Utils 5.4) wrote for the two pickles below, spelled
// out here.

// storedDeflateAll splits b into stored deflate blocks of at most 65535
// bytes.
func storedDeflateAll(b []byte) []byte {
	var out []byte
	for {
		n := min(len(b), 0xffff)
		final := byte(0)
		if n == len(b) {
			final = 1
		}
		out = append(out, final, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		out = append(out, b[:n]...)
		b = b[n:]
		if final == 1 {
			return out
		}
	}
}

// gz wraps b in a gzip member (RFC 1952) with stored deflate blocks.
func gz(b []byte) []byte {
	out := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}
	out = append(out, storedDeflateAll(b)...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(b))
	return binary.LittleEndian.AppendUint32(out, uint32(len(b)))
}

// zl wraps b in a zlib stream (RFC 1950) with stored deflate blocks, as
// zlib.compress(b, 0) does.
func zl(b []byte) []byte {
	out := []byte{0x78, 0x01}
	out = append(out, storedDeflateAll(b)...)
	return binary.BigEndian.AppendUint32(out, adler32.Checksum(b))
}

// joblibZF is joblib 0.9's compressed format: "ZF", the length in hex
// padded to 19 bytes, then a zlib stream.
func joblibZF(b []byte) []byte {
	head := "ZF" + fmt.Sprintf("%-19s", "0x"+strconv.FormatInt(int64(len(b)), 16))
	return append([]byte(head), zl(b)...)
}

// xzs wraps b in an xz stream: one block, an LZMA2 filter, the data in
// uncompressed LZMA2 chunks, CRC32 checks.
func xzs(b []byte) []byte {
	le := binary.LittleEndian
	crc := crc32.ChecksumIEEE
	out := []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 1}
	out = le.AppendUint32(out, crc([]byte{0, 1}))
	// Block header: size (2+1)*4 bytes, flags (one filter, no sizes),
	// LZMA2 with a 64 KiB dictionary (byte 0x08), padding, then its CRC32.
	block := []byte{0x02, 0x00, 0x21, 0x01, 0x08, 0x00, 0x00, 0x00}
	block = le.AppendUint32(block, crc(block))
	var data []byte
	for i, rest := 0, b; len(rest) > 0; i++ {
		n := min(len(rest), 1<<16)
		ctl := byte(2)
		if i == 0 {
			ctl = 1 // dictionary reset
		}
		data = append(data, ctl, byte((n-1)>>8), byte(n-1))
		data = append(data, rest[:n]...)
		rest = rest[n:]
	}
	data = append(data, 0)
	unpadded := len(block) + len(data) + 4
	out = append(out, block...)
	out = append(out, data...)
	for len(data)%4 != 0 {
		out = append(out, 0)
		data = append(data, 0)
	}
	out = le.AppendUint32(out, crc(b))
	index := []byte{0, 1}
	index = binary.AppendUvarint(index, uint64(unpadded))
	index = binary.AppendUvarint(index, uint64(len(b)))
	for len(index)%4 != 0 {
		index = append(index, 0)
	}
	index = le.AppendUint32(index, crc(index))
	out = append(out, index...)
	footer := le.AppendUint32(nil, uint32(len(index)/4-1))
	footer = append(footer, 0, 1)
	out = le.AppendUint32(out, crc(footer))
	out = append(out, footer...)
	return append(out, 'Y', 'Z')
}

// zst wraps b in a zstd frame of raw blocks (RFC 8878), with its content
// size and no checksum.
func zst(b []byte) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0}
	out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
	for {
		n := min(len(b), 1<<17-1)
		last := 0
		if n == len(b) {
			last = 1
		}
		h := uint32(last) | uint32(n)<<3 // type 0: raw
		out = append(out, byte(h), byte(h>>8), byte(h>>16))
		out = append(out, b[:n]...)
		b = b[n:]
		if last == 1 {
			return out
		}
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// bzip2 -9 and xz --format=lzma of the benign pickle (80 02 7d 2e) and
// of evil("id").
var (
	bz2Benign  = unhex("425a683931415926535955c03223000001d0c010000001000240002000219a68334d173c5dc914e142415700c88c")
	bz2Evil    = unhex("425a68393141592653597e7a3a3e00000853e015000001100006228c2042040c0020002226834346ca68534c8c4c4c428158b86e297052078ca627e2ee48a70a120fcf4747c0")
	lzmaBenign = unhex("5d00008000ffffffffffffffff0040008b25d13a0ffffffc3f0000")
	lzmaEvil   = unhex("5d00008000ffffffffffffffff0040010d36fc07284bd348e7e92bc4b629553b51b63cf426d335c49ca793ffffd20d4000")
)

// tm is one tar member.
type tm struct {
	name     string
	data     []byte
	typeflag byte   // 0: a regular file
	link     string // for links
}

// mktar builds a ustar archive with fixed times and owners.
func mktar(members ...tm) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg,
			ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR, Linkname: m.link}
		if m.typeflag != 0 {
			h.Typeflag, h.Size = m.typeflag, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if h.Size > 0 {
			tw.Write(m.data)
		}
	}
	tw.Close()
	return buf.Bytes()
}
