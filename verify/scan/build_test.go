package scan_test

// Builders for the fixtures: pickles opcode by opcode, zip archives
// record by record (with the tricks the scanner must refuse), .npy,
// safetensors and GGUF files field by field. Everything is deterministic:
// no timestamps, no compressor whose output could change (deflated
// members use stored deflate blocks).

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"strings"
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
