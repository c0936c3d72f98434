package scan

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// GGUF metadata value types.
const (
	gUint8 = iota
	gInt8
	gUint16
	gInt16
	gUint32
	gInt32
	gFloat32
	gBool
	gString
	gArray
	gUint64
	gInt64
	gFloat64
	gTypes
)

// gFixed is the size of the fixed-size value types.
var gFixed = [gTypes]uint64{gUint8: 1, gInt8: 1, gUint16: 2, gInt16: 2, gUint32: 4,
	gInt32: 4, gFloat32: 4, gBool: 1, gUint64: 8, gInt64: 8, gFloat64: 8}

// ggmlTypes gives, for each ggml tensor type llama.cpp writes, the
// elements per block and the bytes per block (gguf-py GGML_QUANT_SIZES).
var ggmlTypes = map[uint32][2]uint64{
	0: {1, 4}, 1: {1, 2}, 2: {32, 18}, 3: {32, 20}, 6: {32, 22}, 7: {32, 24},
	8: {32, 34}, 9: {32, 40}, 10: {256, 84}, 11: {256, 110}, 12: {256, 144},
	13: {256, 176}, 14: {256, 210}, 15: {256, 292}, 16: {256, 66}, 17: {256, 74},
	18: {256, 98}, 19: {256, 50}, 20: {32, 18}, 21: {256, 110}, 22: {256, 82},
	23: {256, 136}, 24: {1, 1}, 25: {1, 2}, 26: {1, 4}, 27: {1, 8}, 28: {1, 8},
	29: {256, 56}, 30: {1, 2}, 34: {256, 54}, 35: {256, 66}, 39: {32, 17},
}

// ggufDefaultAlignment is the tensor data alignment without a
// general.alignment key.
const ggufDefaultAlignment = 32

// maxGGUFName is the longest tensor name (GGML_MAX_NAME, terminator
// included).
const maxGGUFName = 63

// ggufProblem is a finding that ends the header walk.
type ggufProblem struct {
	rule, msg string
	off       uint64
}

func (p *ggufProblem) Error() string { return p.msg }

// ggufHeader walks a GGUF header.
type ggufHeader struct {
	s        *scanner
	entry    string
	r        *bufio.Reader
	off      uint64
	size     uint64
	order    binary.ByteOrder
	v1       bool
	names    map[string]bool
	kept     int
	align    uint64
	buf      [8]byte
	noDupes  bool
	tensors  []ggufTensor
	warnings []Finding
}

type ggufTensor struct {
	name        string
	off, nbytes uint64
	sized       bool
	at          uint64
}

func (g *ggufHeader) problem(rule string, off uint64, format string, args ...any) error {
	return &ggufProblem{rule: rule, msg: fmt.Sprintf(format, args...), off: off}
}

// gguf checks a GGUF header: magic, version 1 to 3 (either byte order),
// plausible counts, every string and array within the file and its
// limits, known value types, no duplicate keys or tensor names, a power of
// two general.alignment, and tensors of at most MaxGGUFDims dimensions
// whose data offsets are aligned and, for the known tensor types, whose
// data lies within the file.
func (s *scanner) gguf(r io.ReaderAt, size int64, entry string) {
	sr := io.NewSectionReader(r, 0, size)
	g := &ggufHeader{s: s, entry: entry, r: bufio.NewReaderSize(sr, bufSize(sr)),
		size: uint64(size), names: map[string]bool{}, align: ggufDefaultAlignment}
	err := g.walk()
	var p *ggufProblem
	switch {
	case errors.As(err, &p):
		s.add(Unsafe, p.rule, entry, int64(p.off), "%s", p.msg)
	case err != nil:
		s.contentErr(err, entry)
	}
	s.adopt(g.warnings)
}

func (g *ggufHeader) read(n int) ([]byte, error) {
	if g.off+uint64(n) > MaxGGUFHeader {
		return nil, g.problem("gguf.limit", g.off, "a header longer than %d bytes (MaxGGUFHeader)", MaxGGUFHeader)
	}
	k, err := io.ReadFull(g.r, g.buf[:n])
	g.off += uint64(k)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, g.problem("gguf.header", g.off, "the file ends inside the header")
	}
	return g.buf[:n], err
}

// uint reads an unsigned integer of n = 4 or 8 bytes.
func (g *ggufHeader) uint(n int) (uint64, error) {
	b, err := g.read(n)
	if err != nil {
		return 0, err
	}
	if n == 4 {
		return uint64(g.order.Uint32(b)), nil
	}
	return g.order.Uint64(b), nil
}

func (g *ggufHeader) u32() (uint32, error) {
	v, err := g.uint(4)
	return uint32(v), err
}

// count reads a count or length: 32 bits in version 1, 64 after.
func (g *ggufHeader) count() (uint64, error) {
	if g.v1 {
		return g.uint(4)
	}
	return g.uint(8)
}

// skip passes n bytes that must lie within the file and the header limit.
func (g *ggufHeader) skip(n uint64, what string) error {
	at := g.off
	if n > g.size-g.off {
		return g.problem("gguf.bounds", at, "%s of %d bytes runs past the end of the file", what, n)
	}
	if g.off+n > MaxGGUFHeader {
		return g.problem("gguf.limit", at, "a header longer than %d bytes (MaxGGUFHeader)", MaxGGUFHeader)
	}
	k, err := g.r.Discard(int(n))
	g.off += uint64(k)
	if err == io.EOF {
		return g.problem("gguf.header", g.off, "the file ends inside the header")
	}
	return err
}

// str reads a string of at most limit bytes; it returns the text when
// keep is set.
func (g *ggufHeader) str(what string, limit uint64, keep bool) (string, error) {
	at := g.off
	n, err := g.count()
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", g.problem("gguf.limit", at, "%s of %d bytes: longer than %d", what, n, limit)
	}
	if !keep {
		return "", g.skip(n, what)
	}
	if n > g.size-g.off {
		return "", g.problem("gguf.bounds", at, "%s of %d bytes runs past the end of the file", what, n)
	}
	b := make([]byte, n)
	k, err := io.ReadFull(g.r, b)
	g.off += uint64(k)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "", g.problem("gguf.header", g.off, "the file ends inside the header")
	}
	return string(b), err
}

// unique checks that a key or tensor name was not seen before, within
// MaxGGUFNames bytes of names kept.
func (g *ggufHeader) unique(name, what string, at uint64) error {
	if g.noDupes {
		return nil
	}
	if g.names[what+"\x00"+name] {
		return g.problem("gguf.duplicate", at, "%s %q appears twice: readers disagree on which one counts", what, name)
	}
	if g.kept += len(name); g.kept > MaxGGUFNames {
		g.noDupes = true
		g.warnings = append(g.warnings, Finding{Severity: Info, Rule: "gguf.limit", Entry: g.entry, Offset: int64(at),
			Message: fmt.Sprintf("more than %d bytes of names (MaxGGUFNames): duplicates not looked for past here", MaxGGUFNames)})
		return nil
	}
	g.names[what+"\x00"+name] = true
	return nil
}

func (g *ggufHeader) walk() error {
	magic := make([]byte, 4)
	if _, err := io.ReadFull(g.r, magic); err != nil || !bytes.Equal(magic, ggufMagic) {
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return err
		}
		return g.problem("gguf.header", 0, "no GGUF magic")
	}
	g.off = 4
	g.order = binary.LittleEndian
	b, err := g.read(4)
	if err != nil {
		return err
	}
	version := binary.LittleEndian.Uint32(b)
	if version < 1 || version > 3 {
		if be := binary.BigEndian.Uint32(b); be >= 1 && be <= 3 {
			version, g.order = be, binary.BigEndian
		} else {
			return g.problem("gguf.version", 4, "version %d: GGUF versions are 1 to 3", version)
		}
	}
	g.v1 = version == 1
	lenSize := uint64(8)
	if g.v1 {
		lenSize = 4
	}
	tensors, err := g.count()
	if err != nil {
		return err
	}
	kvs, err := g.count()
	if err != nil {
		return err
	}
	left := g.size - g.off
	switch {
	case tensors > MaxGGUFTensors:
		return g.problem("gguf.limit", 8, "%d tensors: more than MaxGGUFTensors (%d)", tensors, MaxGGUFTensors)
	case kvs > MaxGGUFKV:
		return g.problem("gguf.limit", 8, "%d metadata entries: more than MaxGGUFKV (%d)", kvs, MaxGGUFKV)
	case kvs*(lenSize+1+4+1) > left:
		return g.problem("gguf.count", 8, "%d metadata entries cannot fit in the %d bytes left", kvs, left)
	case tensors*(lenSize+1+4+4+8) > left:
		return g.problem("gguf.count", 8, "%d tensors cannot fit in the %d bytes left", tensors, left)
	}
	for range kvs {
		at := g.off
		key, err := g.str("metadata key", MaxGGUFKey, true)
		if err != nil {
			return err
		}
		if err := g.unique(key, "metadata key", at); err != nil {
			return err
		}
		t, err := g.u32()
		if err != nil {
			return err
		}
		if key == "general.alignment" {
			if t != gUint32 {
				return g.problem("gguf.alignment", at, "general.alignment has type %d, not uint32", t)
			}
			a, err := g.u32()
			if err != nil {
				return err
			}
			if a == 0 || a&(a-1) != 0 {
				return g.problem("gguf.alignment", at, "general.alignment %d is not a power of two", a)
			}
			g.align = uint64(a)
			continue
		}
		if err := g.value(t, key, 0); err != nil {
			return err
		}
	}
	for range tensors {
		if err := g.tensorInfo(); err != nil {
			return err
		}
	}
	if len(g.tensors) == 0 {
		return nil
	}
	dataAt := (g.off + g.align - 1) &^ (g.align - 1)
	if dataAt > g.size {
		return g.problem("gguf.bounds", g.off, "the tensor data would start at %d, past the end of the file (%d)", dataAt, g.size)
	}
	dataSize := g.size - dataAt
	for _, t := range g.tensors {
		switch {
		case t.off%g.align != 0:
			return g.problem("gguf.alignment", t.at, "tensor %q: data offset %d is not a multiple of the alignment (%d)", t.name, t.off, g.align)
		case t.off > dataSize || t.sized && t.nbytes > dataSize-t.off:
			return g.problem("gguf.bounds", t.at, "tensor %q: %d bytes at data offset %d run past the end of the file (%d bytes of data)", t.name, t.nbytes, t.off, dataSize)
		}
	}
	return nil
}

// value passes a metadata value of type t.
func (g *ggufHeader) value(t uint32, key string, depth int) error {
	at := g.off
	switch {
	case t >= gTypes:
		return g.problem("gguf.type", at, "metadata %q: unknown value type %d", key, t)
	case t == gString:
		_, err := g.str("string value of "+key, MaxGGUFString, false)
		return err
	case t != gArray:
		return g.skip(gFixed[t], "value of "+key)
	}
	if depth >= MaxGGUFNesting {
		return g.problem("gguf.limit", at, "metadata %q: arrays nested more than %d deep (MaxGGUFNesting)", key, MaxGGUFNesting)
	}
	et, err := g.u32()
	if err != nil {
		return err
	}
	if et >= gTypes {
		return g.problem("gguf.type", at, "metadata %q: unknown array element type %d", key, et)
	}
	n, err := g.count()
	if err != nil {
		return err
	}
	if n > MaxGGUFArray {
		return g.problem("gguf.limit", at, "metadata %q: an array of %d elements, more than MaxGGUFArray (%d)", key, n, MaxGGUFArray)
	}
	if et != gString && et != gArray {
		hi, total := bits.Mul64(n, gFixed[et])
		if hi != 0 {
			return g.problem("gguf.bounds", at, "metadata %q: an array of %d elements runs past the end of the file", key, n)
		}
		return g.skip(total, "array "+key)
	}
	for range n {
		if err := g.value(et, key, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// tensorInfo reads one tensor info.
func (g *ggufHeader) tensorInfo() error {
	at := g.off
	name, err := g.str("tensor name", maxGGUFName, true)
	if err != nil {
		return err
	}
	if err := g.unique(name, "tensor", at); err != nil {
		return err
	}
	ndims, err := g.u32()
	if err != nil {
		return err
	}
	if ndims > MaxGGUFDims {
		return g.problem("gguf.tensor", at, "tensor %q has %d dimensions, more than %d", name, ndims, MaxGGUFDims)
	}
	t := ggufTensor{name: name, at: at, nbytes: 1}
	dims := make([]uint64, ndims)
	overflow := false
	for i := range dims {
		if dims[i], err = g.count(); err != nil {
			return err
		}
		var hi uint64
		hi, t.nbytes = bits.Mul64(t.nbytes, dims[i])
		overflow = overflow || hi != 0
	}
	if overflow {
		return g.problem("gguf.tensor", at, "tensor %q: dimensions %v overflow", name, dims)
	}
	typ, err := g.u32()
	if err != nil {
		return err
	}
	if t.off, err = g.uint(8); err != nil {
		return err
	}
	if bs, ok := ggmlTypes[typ]; ok {
		if ndims > 0 && dims[0]%bs[0] != 0 {
			return g.problem("gguf.tensor", at, "tensor %q: first dimension %d is not a multiple of the type's block size %d", name, dims[0], bs[0])
		}
		var hi uint64
		if hi, t.nbytes = bits.Mul64(t.nbytes/bs[0], bs[1]); hi != 0 {
			return g.problem("gguf.tensor", at, "tensor %q: dimensions %v overflow", name, dims)
		}
		t.sized = true
	} else {
		t.nbytes = 0
		g.warnings = append(g.warnings, Finding{Severity: Warning, Rule: "gguf.type", Entry: g.entry, Offset: int64(at),
			Message: fmt.Sprintf("tensor %q: unknown tensor type %d, its size is not checked", name, typ)})
	}
	g.tensors = append(g.tensors, t)
	return nil
}
