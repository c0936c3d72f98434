package scan

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pickle opcodes, protocols 0 to 5 (Lib/pickle.py).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'

	opProto    = 0x80
	opNewObj   = 0x81
	opExt1     = 0x82
	opExt2     = 0x83
	opExt4     = 0x84
	opTuple1   = 0x85
	opTuple2   = 0x86
	opTuple3   = 0x87
	opNewTrue  = 0x88
	opNewFalse = 0x89
	opLong1    = 0x8a
	opLong4    = 0x8b

	opBinBytes      = 'B'
	opShortBinBytes = 'C'

	opShortBinUnicode = 0x8c
	opBinUnicode8     = 0x8d
	opBinBytes8       = 0x8e
	opEmptySet        = 0x8f
	opAddItems        = 0x90
	opFrozenSet       = 0x91
	opNewObjEx        = 0x92
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95

	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

// highestProtocol is the newest pickle protocol (Python 3.8 and later).
const highestProtocol = 5

// opNames names every opcode the scanner knows; an opcode not in it is
// Unsafe (an unknown opcode makes pickle.load fail, but a scanner that
// skipped it would be out of step with what a newer loader does).
var opNames = [256]string{
	opMark: "MARK", opStop: "STOP", opPop: "POP", opPopMark: "POP_MARK", opDup: "DUP",
	opFloat: "FLOAT", opInt: "INT", opBinInt: "BININT", opBinInt1: "BININT1", opLong: "LONG",
	opBinInt2: "BININT2", opNone: "NONE", opPersID: "PERSID", opBinPersID: "BINPERSID",
	opReduce: "REDUCE", opString: "STRING", opBinString: "BINSTRING",
	opShortBinString: "SHORT_BINSTRING", opUnicode: "UNICODE", opBinUnicode: "BINUNICODE",
	opAppend: "APPEND", opBuild: "BUILD", opGlobal: "GLOBAL", opDict: "DICT",
	opEmptyDict: "EMPTY_DICT", opAppends: "APPENDS", opGet: "GET", opBinGet: "BINGET",
	opInst: "INST", opLongBinGet: "LONG_BINGET", opList: "LIST", opEmptyList: "EMPTY_LIST",
	opObj: "OBJ", opPut: "PUT", opBinPut: "BINPUT", opLongBinPut: "LONG_BINPUT",
	opSetItem: "SETITEM", opTuple: "TUPLE", opEmptyTuple: "EMPTY_TUPLE", opSetItems: "SETITEMS",
	opBinFloat: "BINFLOAT",
	opProto:    "PROTO", opNewObj: "NEWOBJ", opExt1: "EXT1", opExt2: "EXT2", opExt4: "EXT4",
	opTuple1: "TUPLE1", opTuple2: "TUPLE2", opTuple3: "TUPLE3", opNewTrue: "NEWTRUE",
	opNewFalse: "NEWFALSE", opLong1: "LONG1", opLong4: "LONG4",
	opBinBytes: "BINBYTES", opShortBinBytes: "SHORT_BINBYTES",
	opShortBinUnicode: "SHORT_BINUNICODE", opBinUnicode8: "BINUNICODE8", opBinBytes8: "BINBYTES8",
	opEmptySet: "EMPTY_SET", opAddItems: "ADDITEMS", opFrozenSet: "FROZENSET",
	opNewObjEx: "NEWOBJ_EX", opStackGlobal: "STACK_GLOBAL", opMemoize: "MEMOIZE", opFrame: "FRAME",
	opByteArray8: "BYTEARRAY8", opNextBuffer: "NEXT_BUFFER", opReadOnlyBuffer: "READONLY_BUFFER",
}

func isOpcode(b byte) bool { return opNames[b] != "" }

// argSize is the size of the fixed argument of the opcodes that have one.
var argSize = [256]uint8{
	opBinInt: 4, opBinInt1: 1, opBinInt2: 2, opBinFloat: 8,
	opExt1: 1, opExt2: 2, opExt4: 4,
}

// pickleExts are the file names a protocol 0 or 1 pickle (which has no
// magic bytes) is recognised by. .bin is not one: raw tensor files use it.
var pickleExts = []string{".pkl", ".pickle", ".pk", ".pt", ".pth", ".ckpt", ".joblib"}

// kind is what the scanner knows of a value on the pickle stack.
type kind uint8

const (
	kMark    kind = iota
	kStr          // a string whose text is kept
	kLongStr      // a string whose text was not kept (MaxPickleName, MaxPickleStrings)
	kBytes        // bytes or a bytearray
	kInt          // an integer or a boolean
	kGlobal       // an imported global, named "module.name"
	kObj          // anything else: containers, floats, None, call results
	kJoblib       // a joblib array wrapper (NumpyArrayWrapper) the pickle made
)

var kindNames = [...]string{
	kMark: "MARK", kStr: "string", kLongStr: "string (not kept)", kBytes: "bytes value",
	kInt: "int", kGlobal: "global", kObj: "object", kJoblib: "joblib array wrapper",
}

type pval struct {
	k kind
	s string // kStr: the text; kGlobal: "module.name"
}

func (v pval) describe() string {
	switch v.k {
	case kStr:
		return "the string " + quoteName(v.s)
	case kGlobal:
		return "the global " + v.s
	case kInt, kObj, kJoblib:
		return "an " + kindNames[v.k]
	}
	return "a " + kindNames[v.k]
}

// pickleOpts says how a pickle is loaded.
type pickleOpts struct {
	torch       bool  // by torch.load: persistent ids are storages
	torchScript bool  // by torch.jit.load: TorchScript globals allowed
	torchTar    bool  // a member of a tar checkpoint: legacy tensor types allowed
	streams     int   // > 0: exactly this many stacked pickles, then raw data (legacy PyTorch)
	one         bool  // exactly one pickle and nothing after it (a .npy payload)
	base        int64 // offset of the first byte in the entry
}

// pickleResult is what one pickle scan found. The caller adopts the
// findings, or drops them when the bytes turn out not to be a pickle.
type pickleResult struct {
	found  []Finding
	clean  bool   // the first stream parsed to its STOP without a structural finding
	called bool   // a call of an imported global with a well-formed dotted name was reached
	joblib bool   // a joblib array wrapper was imported
	last   string // the last global imported, "module.name"
	read   int64  // bytes read
}

// format is the format of the pickle: joblib when it imports joblib's
// array wrappers.
func (r pickleResult) format() string {
	if r.joblib {
		return FormatJoblib
	}
	return FormatPickle
}

var (
	// errStop ends a stream after a structural finding was recorded.
	errStop = errors.New("pickle: stream not parsable")
	// errDone is returned by op at STOP.
	errDone = errors.New("pickle: STOP")
	// errTruncated means the input ended in the middle of something.
	errTruncated = errors.New("unexpected end of input")
	// errLongLine means a text argument longer than MaxPickleLine.
	errLongLine = errors.New("pickle: line too long")
)

// machine follows a pickle opcode by opcode, keeping a model of the stack
// and the memo precise enough to name every global imported, without
// building any Python object.
type machine struct {
	s     *scanner
	entry string
	r     *preader
	opt   pickleOpts
	res   pickleResult

	stack  []pval
	marks  []int // stack indices of the MARKs
	memo   map[uint64]pval
	kept   int64 // bytes of strings kept in this stream
	seen   map[string]bool
	persid bool
}

// runPickle scans every stream of the pickle read from r.
func (s *scanner) runPickle(r io.Reader, entry string, o pickleOpts) (pickleResult, error) {
	m := &machine{
		s: s, entry: entry, opt: o,
		r:    newPReader(r, o.base),
		memo: map[uint64]pval{},
		seen: map[string]bool{},
	}
	err := m.run()
	m.res.read = m.r.off - o.base
	if m.persid && !o.torch {
		m.add(Info, "pickle.persid", -1, "uses persistent ids: pickle.load refuses them unless the loader defines persistent_load (torch.load does)")
	}
	return m.res, err
}

// pickle scans r as a pickle and adopts the findings.
func (s *scanner) pickle(r io.Reader, entry string, o pickleOpts) (pickleResult, error) {
	res, err := s.runPickle(r, entry, o)
	s.adopt(res.found)
	return res, err
}

func (m *machine) run() error {
	for i := 0; ; i++ {
		if m.opt.streams > 0 && i == m.opt.streams {
			return nil // the rest is raw storage data
		}
		start := m.r.off
		b, err := m.r.peek()
		if errors.Is(err, errTruncated) {
			switch {
			case i == 0:
				m.add(Unsafe, "pickle.truncated", start, "no pickle: the data is empty")
			case m.opt.streams > 0:
				m.add(Unsafe, "pickle.truncated", start, "legacy PyTorch file ends after %d of its %d pickles", i, m.opt.streams)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if i > 0 {
			switch {
			case m.opt.one:
				m.add(Unsafe, "pickle.trailing", start, "bytes follow the pickle's STOP: a second load would read them")
				return nil
			case !isOpcode(b):
				m.add(Unsafe, "pickle.trailing", start, "bytes after STOP do not start a pickle (byte 0x%02x): they cannot be shown safe for a loader that reads on", b)
				return nil
			case i >= MaxPickleStreams:
				m.add(Unsafe, "pickle.limit", start, "more than %d stacked pickles (MaxPickleStreams)", MaxPickleStreams)
				return nil
			}
		}
		err = m.stream()
		if err == errStop {
			return nil
		}
		if err != nil {
			return err
		}
		if i == 0 {
			m.res.clean = true
		}
	}
}

// add records a finding of this pickle.
func (m *machine) add(sev Severity, rule string, off int64, format string, args ...any) {
	if len(m.res.found) > MaxFindings {
		return // the report is full anyway; the verdict is already Unsafe
	}
	m.res.found = append(m.res.found, Finding{Severity: sev, Rule: rule,
		Message: fmt.Sprintf(format, args...), Entry: m.entry, Offset: off})
}

// fail2 records a finding of severity sev and ends the stream.
func (m *machine) fail2(sev Severity, rule string, off int64, format string, args ...any) error {
	m.add(sev, rule, off, format, args...)
	return errStop
}

// made is what calling fn makes: a joblib array wrapper, or an object.
func made(fn pval) pval {
	if fn.k == kGlobal && joblibWrappers[fn.s] {
		return pval{k: kJoblib}
	}
	return pval{k: kObj}
}

// fail records an Unsafe finding and ends the stream.
func (m *machine) fail(rule string, off int64, format string, args ...any) error {
	m.add(Unsafe, rule, off, format, args...)
	return errStop
}

// readErr turns a read error into a finding (truncation) or passes it on.
func (m *machine) readErr(err error, off int64, what string) error {
	switch {
	case errors.Is(err, errTruncated):
		return m.fail("pickle.truncated", off, "the data ends inside %s", what)
	case errors.Is(err, errLongLine):
		return m.fail("pickle.limit", off, "%s: a text argument longer than %d bytes (MaxPickleLine)", what, MaxPickleLine)
	}
	return err
}

// stream scans one pickle, from PROTO (or its first opcode) to STOP.
func (m *machine) stream() error {
	m.stack, m.marks, m.kept = m.stack[:0], m.marks[:0], 0
	clear(m.memo)
	for {
		off := m.r.off
		if m.s.ops >= maxPickleOpcodes {
			return m.fail("pickle.limit", off, "more than %d opcodes (MaxPickleOpcodes)", maxPickleOpcodes)
		}
		m.s.ops++
		op, err := m.r.byte()
		if err != nil {
			return m.readErr(err, off, "the pickle: no STOP")
		}
		switch err := m.op(op, off); err {
		case nil:
		case errDone:
			return nil
		default:
			return err
		}
	}
}

func (m *machine) push(v pval, off int64) error {
	if len(m.stack) >= MaxPickleStack {
		return m.fail("pickle.limit", off, "stack deeper than %d (MaxPickleStack)", MaxPickleStack)
	}
	m.stack = append(m.stack, v)
	return nil
}

// pop removes the top value, which must not be a MARK: the unpickler's
// stack ends at the last MARK.
func (m *machine) pop(op byte, off int64) (pval, error) {
	n := len(m.stack)
	if n == 0 || m.stack[n-1].k == kMark {
		return pval{}, m.fail("pickle.stack", off, "%s: stack underflow", opNames[op])
	}
	v := m.stack[n-1]
	m.stack = m.stack[:n-1]
	return v, nil
}

func (m *machine) popN(op byte, n int, off int64) error {
	for range n {
		if _, err := m.pop(op, off); err != nil {
			return err
		}
	}
	return nil
}

// top returns the top value without removing it.
func (m *machine) top(op byte, off int64) (*pval, error) {
	n := len(m.stack)
	if n == 0 || m.stack[n-1].k == kMark {
		return nil, m.fail("pickle.stack", off, "%s: stack underflow", opNames[op])
	}
	return &m.stack[n-1], nil
}

// popMark removes the values above the last MARK and the MARK. The slice
// is valid until the next push.
func (m *machine) popMark(op byte, off int64) ([]pval, error) {
	if len(m.marks) == 0 {
		return nil, m.fail("pickle.stack", off, "%s without a MARK", opNames[op])
	}
	i := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := m.stack[i+1:]
	m.stack = m.stack[:i]
	return items, nil
}

// str makes a string value, keeping the text within MaxPickleStrings.
func (m *machine) str(s string, complete bool) pval {
	if !complete || m.kept+int64(len(s)) > MaxPickleStrings {
		return pval{k: kLongStr}
	}
	m.kept += int64(len(s))
	return pval{k: kStr, s: s}
}

// imp judges an import of module.name.
func (m *machine) imp(module, name string, op byte, off int64) pval {
	full := module + "." + name
	m.res.last = full
	switch {
	case joblibWrappers[full]:
		m.res.joblib = true
		return pval{k: kGlobal, s: full}
	case joblibExternal[full]:
		m.res.joblib = true
		if !m.seen[full] {
			m.seen[full] = true
			m.add(NotScanned, "joblib.external", off, "%s imports %s: joblib 0.9 and older kept arrays in files beside the pickle, which this scan does not read", opNames[op], full)
		}
		return pval{k: kGlobal, s: full}
	case m.opt.torchTar && legacyTensorTypes[full]:
		return pval{k: kGlobal, s: full}
	}
	if !allowedGlobal(module, name, m.opt.torchScript) && !m.seen[full] {
		m.seen[full] = true
		m.add(Unsafe, "pickle.global", off, "%s imports %s, which is not on the allow-list", opNames[op], quoteName(full))
	}
	return pval{k: kGlobal, s: full}
}

// call checks the callable of REDUCE, NEWOBJ, NEWOBJ_EX and OBJ: an
// imported global (directly or through the memo). Calling anything else
// (the result of another call) is Unsafe.
func (m *machine) call(fn pval, op byte, off int64) {
	if fn.k != kGlobal {
		m.add(Unsafe, "pickle.operand", off, "%s calls %s, not an imported global", opNames[op], fn.describe())
		return
	}
	if dottedName(fn.s) {
		m.res.called = true
	}
}

func (m *machine) memoPut(idx uint64, op byte, off int64) error {
	v, err := m.top(op, off)
	if err != nil {
		return err
	}
	if _, ok := m.memo[idx]; !ok && len(m.memo) >= MaxPickleMemo {
		return m.fail("pickle.limit", off, "more than %d memo entries (MaxPickleMemo)", MaxPickleMemo)
	}
	m.memo[idx] = *v
	return nil
}

func (m *machine) memoGet(idx uint64, op byte, off int64) error {
	v, ok := m.memo[idx]
	if !ok {
		return m.fail("pickle.memo", off, "%s %d: memo index never set", opNames[op], idx)
	}
	return m.push(v, off)
}

// memoIndex parses the decimal argument of PUT and GET as CPython does
// (ASCII whitespace around, an optional sign, digits with single
// underscores between them). Negative indices fail in CPython.
func (m *machine) memoIndex(op byte, off int64) (uint64, error) {
	line, ok, err := m.r.line(64)
	if err != nil {
		return 0, m.readErr(err, off, opNames[op])
	}
	t := strings.Trim(line, " \t\r\v\f")
	t = strings.TrimPrefix(t, "+")
	valid := ok && t != "" && t[0] != '_' && t[len(t)-1] != '_' && !strings.Contains(t, "__")
	digits := strings.ReplaceAll(t, "_", "")
	n, perr := strconv.ParseUint(digits, 10, 64)
	if !valid || perr != nil || strings.ContainsAny(digits, "+-") {
		return 0, m.fail("pickle.memo", off, "%s: bad memo index %q", opNames[op], line)
	}
	return n, nil
}

// op follows one opcode.
func (m *machine) op(op byte, off int64) error {
	r := m.r
	switch op {
	case opMark:
		if err := m.push(pval{k: kMark}, off); err != nil {
			return err
		}
		m.marks = append(m.marks, len(m.stack)-1)
	case opStop:
		if _, err := m.pop(op, off); err != nil {
			return err
		}
		return errDone
	case opPop:
		n := len(m.stack)
		switch {
		case n == 0:
			return m.fail("pickle.stack", off, "POP: stack underflow")
		case m.stack[n-1].k == kMark: // pops the MARK itself
			m.stack = m.stack[:n-1]
			m.marks = m.marks[:len(m.marks)-1]
		default:
			m.stack = m.stack[:n-1]
		}
	case opPopMark:
		if _, err := m.popMark(op, off); err != nil {
			return err
		}
	case opDup:
		v, err := m.top(op, off)
		if err != nil {
			return err
		}
		return m.push(*v, off)

	case opFloat, opInt, opLong:
		if _, _, err := r.line(0); err != nil {
			return m.readErr(err, off, opNames[op])
		}
		k := kInt
		if op == opFloat {
			k = kObj
		}
		return m.push(pval{k: k}, off)
	case opBinInt, opBinInt1, opBinInt2, opBinFloat:
		if err := r.skip(uint64(argSize[op])); err != nil {
			return m.readErr(err, off, opNames[op])
		}
		k := kInt
		if op == opBinFloat {
			k = kObj
		}
		return m.push(pval{k: k}, off)
	case opLong1, opLong4:
		n, err := m.length(op, off)
		if err != nil {
			return err
		}
		if err := r.skip(n); err != nil {
			return m.readErr(err, off, opNames[op])
		}
		return m.push(pval{k: kInt}, off)
	case opNone, opNewTrue, opNewFalse, opEmptyTuple, opEmptyList, opEmptyDict, opEmptySet, opNextBuffer:
		k := kObj
		if op == opNewTrue || op == opNewFalse {
			k = kInt
		}
		return m.push(pval{k: k}, off)

	case opString:
		line, ok, err := r.line(MaxPickleName + 2)
		if err != nil {
			return m.readErr(err, off, "STRING")
		}
		if !ok {
			return m.push(m.str("", false), off)
		}
		if len(line) < 2 || line[0] != line[len(line)-1] || (line[0] != '\'' && line[0] != '"') {
			return m.fail("pickle.string", off, "STRING argument is not quoted")
		}
		s, ok := escapeDecode(line[1 : len(line)-1])
		if !ok {
			return m.fail("pickle.string", off, "STRING argument has a bad escape")
		}
		return m.push(m.str(s, true), off)
	case opUnicode:
		line, ok, err := r.line(MaxPickleName)
		if err != nil {
			return m.readErr(err, off, "UNICODE")
		}
		if !ok {
			return m.push(m.str("", false), off)
		}
		s, ok := rawUnicodeEscapeDecode(line)
		if !ok {
			return m.fail("pickle.string", off, "UNICODE argument has a bad \\u escape")
		}
		return m.push(m.str(s, true), off)
	case opBinString, opShortBinString, opBinUnicode, opShortBinUnicode, opBinUnicode8:
		n, err := m.length(op, off)
		if err != nil {
			return err
		}
		s, ok, err := r.text(n, MaxPickleName)
		if err != nil {
			return m.readErr(err, off, opNames[op])
		}
		return m.push(m.str(s, ok), off)
	case opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8:
		n, err := m.length(op, off)
		if err != nil {
			return err
		}
		if err := r.skip(n); err != nil {
			return m.readErr(err, off, opNames[op])
		}
		return m.push(pval{k: kBytes}, off)

	case opTuple, opList, opDict, opFrozenSet:
		items, err := m.popMark(op, off)
		if err != nil {
			return err
		}
		if op == opDict && len(items)%2 != 0 {
			return m.fail("pickle.stack", off, "DICT with an odd number of items")
		}
		return m.push(pval{k: kObj}, off)
	case opTuple1, opTuple2, opTuple3:
		if err := m.popN(op, int(op-opTuple1)+1, off); err != nil {
			return err
		}
		return m.push(pval{k: kObj}, off)
	case opAppend:
		if _, err := m.pop(op, off); err != nil {
			return err
		}
		_, err := m.top(op, off)
		return err
	case opSetItem:
		if err := m.popN(op, 2, off); err != nil {
			return err
		}
		_, err := m.top(op, off)
		return err
	case opAppends, opSetItems, opAddItems:
		items, err := m.popMark(op, off)
		if err != nil {
			return err
		}
		if op == opSetItems && len(items)%2 != 0 {
			return m.fail("pickle.stack", off, "SETITEMS with an odd number of items")
		}
		_, err = m.top(op, off)
		return err

	case opMemoize:
		return m.memoPut(uint64(len(m.memo)), op, off)
	case opPut, opBinPut, opLongBinPut, opGet, opBinGet, opLongBinGet:
		var idx uint64
		var err error
		if op == opPut || op == opGet {
			idx, err = m.memoIndex(op, off)
		} else {
			idx, err = m.uint(op, off)
		}
		switch {
		case err != nil:
			return err
		case op == opPut || op == opBinPut || op == opLongBinPut:
			return m.memoPut(idx, op, off)
		}
		return m.memoGet(idx, op, off)

	case opGlobal, opInst:
		module, mok, err := r.line(MaxPickleName)
		if err != nil {
			return m.readErr(err, off, opNames[op])
		}
		name, nok, err := r.line(MaxPickleName)
		if err != nil {
			return m.readErr(err, off, opNames[op])
		}
		if !mok || !nok {
			module, name = longName(module, mok), longName(name, nok)
		}
		g := m.imp(module, name, op, off)
		if op == opGlobal {
			return m.push(g, off)
		}
		if _, err := m.popMark(op, off); err != nil {
			return err
		}
		m.call(g, op, off)
		return m.push(pval{k: kObj}, off)
	case opStackGlobal:
		name, err := m.pop(op, off)
		if err != nil {
			return err
		}
		module, err := m.pop(op, off)
		if err != nil {
			return err
		}
		if module.k != kStr || name.k != kStr {
			return m.fail("pickle.operand", off, "STACK_GLOBAL needs two strings, got %s and %s: the global it imports cannot be named", module.describe(), name.describe())
		}
		return m.push(m.imp(module.s, name.s, op, off), off)
	case opExt1, opExt2, opExt4:
		b, err := r.fixed(int(argSize[op]))
		if err != nil {
			return m.readErr(err, off, opNames[op])
		}
		code := leUint(b)
		m.add(Unsafe, "pickle.ext", off, "%s %d imports whatever copyreg's extension registry maps code %d to", opNames[op], code, code)
		return m.push(pval{k: kGlobal, s: fmt.Sprintf("extension code %d", code)}, off)

	case opReduce, opNewObj, opNewObjEx:
		args := 1 // the arguments, and NEWOBJ_EX's keyword arguments
		if op == opNewObjEx {
			args = 2
		}
		if err := m.popN(op, args, off); err != nil {
			return err
		}
		fn, err := m.pop(op, off)
		if err != nil {
			return err
		}
		m.call(fn, op, off)
		return m.push(made(fn), off)
	case opObj:
		items, err := m.popMark(op, off)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return m.fail("pickle.stack", off, "OBJ without a class")
		}
		fn := items[0]
		m.call(fn, op, off)
		return m.push(made(fn), off)
	case opBuild:
		if _, err := m.pop(op, off); err != nil { // state
			return err
		}
		inst, err := m.top(op, off)
		if err != nil {
			return err
		}
		if inst.k == kGlobal {
			m.add(Unsafe, "pickle.operand", off, "BUILD sets attributes of %s itself, not of an object it made", inst.s)
		}
		if inst.k == kJoblib {
			// joblib.load reads the array's bytes from the file right after
			// this BUILD; how many depends on the shape and dtype in the
			// state, which the scanner does not evaluate.
			return m.fail2(NotScanned, "joblib.array", m.r.off, "a NumPy array joblib stores inline after its NumpyArrayWrapper: its size is not evaluated, so the rest of the file is not scanned")
		}

	case opPersID:
		if _, _, err := r.line(0); err != nil {
			return m.readErr(err, off, "PERSID")
		}
		m.persid = true
		return m.push(pval{k: kObj}, off)
	case opBinPersID:
		if _, err := m.pop(op, off); err != nil {
			return err
		}
		m.persid = true
		return m.push(pval{k: kObj}, off)
	case opReadOnlyBuffer:
		_, err := m.top(op, off)
		return err

	case opProto:
		b, err := r.byte()
		if err != nil {
			return m.readErr(err, off, "PROTO")
		}
		if b > highestProtocol {
			return m.fail("pickle.protocol", off, "protocol %d: no Python reads it", b)
		}
	case opFrame:
		// The frame length is only a read-ahead hint: CPython reads the
		// opcodes in it as if there were no frame.
		if err := r.skip(8); err != nil {
			return m.readErr(err, off, "FRAME")
		}
	default:
		return m.fail("pickle.opcode", off, "unknown opcode 0x%02x", op)
	}
	return nil
}

// length reads the length argument of a counted opcode.
func (m *machine) length(op byte, off int64) (uint64, error) {
	var n int
	switch op {
	case opShortBinString, opShortBinUnicode, opShortBinBytes, opLong1:
		n = 1
	case opBinString, opBinUnicode, opBinBytes, opLong4:
		n = 4
	default:
		n = 8
	}
	b, err := m.r.fixed(n)
	if err != nil {
		return 0, m.readErr(err, off, opNames[op])
	}
	v := leUint(b)
	if (op == opBinString || op == opLong4) && int32(v) < 0 {
		return 0, m.fail("pickle.truncated", off, "%s with a negative length", opNames[op])
	}
	return v, nil
}

// uint reads the memo index of BINPUT, LONG_BINPUT, BINGET, LONG_BINGET.
func (m *machine) uint(op byte, off int64) (uint64, error) {
	n := 1
	if op == opLongBinPut || op == opLongBinGet {
		n = 4
	}
	b, err := m.r.fixed(n)
	if err != nil {
		return 0, m.readErr(err, off, opNames[op])
	}
	return leUint(b), nil
}

func leUint(b []byte) uint64 {
	var x [8]byte
	copy(x[:], b)
	return binary.LittleEndian.Uint64(x[:])
}

// longName is the name of a GLOBAL line that was not kept whole.
func longName(s string, complete bool) string {
	if complete {
		return s
	}
	return s + "..."
}

// dottedName reports whether s is a dotted Python identifier (ASCII).
func dottedName(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || (part[0] >= '0' && part[0] <= '9') {
			return false
		}
		for _, c := range []byte(part) {
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// quoteName prints a global's name as is when it is printable, quoted
// otherwise.
func quoteName(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// escapeDecode decodes the argument of STRING as codecs.escape_decode
// does. It fails where CPython fails.
func escapeDecode(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", false // trailing backslash
		}
		switch c = s[i]; c {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(c)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'v':
			b.WriteByte('\v')
		case 'a':
			b.WriteByte('\a')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7'; k++ {
				i++
				v = v<<3 + int(s[i]-'0')
			}
			b.WriteByte(byte(v))
		case 'x':
			if i+2 >= len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// rawUnicodeEscapeDecode decodes the argument of UNICODE as the
// raw-unicode-escape codec does: bytes are Latin-1 characters, and \uXXXX
// and \UXXXXXXXX are escapes when preceded by an odd number of
// backslashes.
func rawUnicodeEscapeDecode(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b.WriteRune(rune(c))
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '\\' {
			j++
		}
		run := j - i
		if run%2 == 0 || j == len(s) || (s[j] != 'u' && s[j] != 'U') {
			b.WriteString(s[i:j])
			i = j
			continue
		}
		b.WriteString(s[i : j-1])
		n := 4
		if s[j] == 'U' {
			n = 8
		}
		if j+1+n > len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[j+1:j+1+n], 16, 32)
		if err != nil || v > utf8.MaxRune {
			return "", false
		}
		b.WriteRune(rune(v))
		i = j + 1 + n
	}
	return b.String(), true
}

// preader reads a pickle, counting offsets from base.
type preader struct {
	r   *bufio.Reader
	off int64
	buf [8]byte
}

func newPReader(r io.Reader, base int64) *preader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, bufSize(r))
	}
	return &preader{r: br, off: base}
}

// bufSize is the read buffer for r: 64 KiB, or less for smaller content.
func bufSize(r io.Reader) int {
	const most = 64 << 10
	if s, ok := r.(interface{ Size() int64 }); ok && s.Size() < most {
		return int(max(s.Size(), 16))
	}
	return most
}

func eof(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errTruncated
	}
	return err
}

func (p *preader) peek() (byte, error) {
	b, err := p.r.Peek(1)
	if err != nil {
		return 0, eof(err)
	}
	return b[0], nil
}

func (p *preader) byte() (byte, error) {
	c, err := p.r.ReadByte()
	if err != nil {
		return 0, eof(err)
	}
	p.off++
	return c, nil
}

// fixed reads n <= 8 bytes; the slice is valid until the next call.
func (p *preader) fixed(n int) ([]byte, error) {
	k, err := io.ReadFull(p.r, p.buf[:n])
	p.off += int64(k)
	if err != nil {
		return nil, eof(err)
	}
	return p.buf[:n], nil
}

// skip discards n bytes.
func (p *preader) skip(n uint64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		k, err := p.r.Discard(step)
		p.off += int64(k)
		n -= uint64(k)
		if err != nil {
			return eof(err)
		}
	}
	return nil
}

// text reads n bytes and returns them when n <= keep (ok), else discards
// them.
func (p *preader) text(n uint64, keep int) (string, bool, error) {
	if n > uint64(keep) {
		return "", false, p.skip(n)
	}
	b := make([]byte, n)
	k, err := io.ReadFull(p.r, b)
	p.off += int64(k)
	if err != nil {
		return "", false, eof(err)
	}
	return string(b), true, nil
}

// line reads up to and including a newline, at most MaxPickleLine bytes,
// and returns the text before the newline when it is at most keep bytes
// long (ok); longer lines are returned cut to keep bytes.
func (p *preader) line(keep int) (string, bool, error) {
	var b []byte
	total := 0
	for {
		chunk, err := p.r.ReadSlice('\n')
		total += len(chunk)
		p.off += int64(len(chunk))
		if len(b) <= keep {
			b = append(b, chunk[:min(len(chunk), keep+1-len(b))]...)
		}
		if total > MaxPickleLine {
			return "", false, errLongLine
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return "", false, eof(err)
		}
	}
	text := b
	if n := len(text); n > 0 && text[n-1] == '\n' {
		text = text[:n-1]
	}
	if total-1 > keep {
		return string(text[:min(len(text), keep)]), false, nil
	}
	return string(text), true, nil
}
