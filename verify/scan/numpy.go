package scan

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// npy scans a .npy file of size bytes (-1 when unknown) read from r: the
// header, then, for an object dtype, the pickle np.load would unpickle.
func (s *scanner) npy(r io.Reader, size int64, entry string) error {
	bad := func(rule string, off int64, format string, args ...any) error {
		s.add(Unsafe, rule, entry, off, format, args...)
		return nil
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	var pre [12]byte
	if _, err := io.ReadFull(br, pre[:8]); err != nil {
		return truncatedOr(err, func() error { return bad("npy.header", 0, "shorter than a .npy header") })
	}
	if string(pre[:6]) != string(npyMagic) {
		return bad("npy.header", 0, "not a .npy file: no \\x93NUMPY magic")
	}
	major, minor := pre[6], pre[7]
	if major < 1 || major > 3 || minor != 0 {
		return bad("npy.header", 6, "format version %d.%d: NumPy reads 1.0, 2.0 and 3.0", major, minor)
	}
	lenSize := 4
	if major == 1 {
		lenSize = 2
	}
	if _, err := io.ReadFull(br, pre[8:8+lenSize]); err != nil {
		return truncatedOr(err, func() error { return bad("npy.header", 8, "truncated header length") })
	}
	hlen := uint64(binary.LittleEndian.Uint16(pre[8:]))
	if lenSize == 4 {
		hlen = uint64(binary.LittleEndian.Uint32(pre[8:]))
	}
	if hlen > MaxNpyHeader {
		return bad("npy.limit", 8, "a header of %d bytes: more than MaxNpyHeader (%d)", hlen, MaxNpyHeader)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(br, header); err != nil {
		return truncatedOr(err, func() error { return bad("npy.header", int64(8+lenSize), "the header is cut short") })
	}
	dataAt := int64(8 + lenSize + len(header))
	text := string(header)
	if major == 3 && !utf8.ValidString(text) {
		return bad("npy.header", int64(8+lenSize), "a version 3 header that is not UTF-8")
	}
	if major < 3 { // Latin-1
		var b strings.Builder
		for _, c := range header {
			b.WriteRune(rune(c))
		}
		text = b.String()
	}
	descr, shape, why := npyHeader(text)
	if why != "" {
		return bad("npy.header", int64(8+lenSize), "header %s: %s", strconv.Quote(strings.TrimRight(text, " \n")), why)
	}
	object, ok := dtypeObject(descr)
	if !ok {
		return bad("npy.header", int64(8+lenSize), "descr %v is not a dtype description", pyRepr(descr))
	}
	if object {
		s.add(Warning, "npy.object", entry, int64(8+lenSize), "dtype %s holds Python objects: np.load needs allow_pickle=True and unpickles the data (scanned here)", pyRepr(descr))
		_, err := s.pickle(br, entry, pickleOpts{one: true, base: dataAt})
		return err
	}
	item, ok := dtypeSize(descr)
	if !ok || size < 0 {
		return nil
	}
	count, ok := product(shape)
	hi, want := bits.Mul64(count, item)
	if !ok || hi != 0 {
		return bad("npy.shape", int64(8+lenSize), "shape %v overflows", shape)
	}
	if got := uint64(size - dataAt); got != want {
		what := "trailing bytes after the array"
		if got < want {
			what = "the data is cut short"
		}
		return bad("npy.size", dataAt, "%s: %d bytes of data, the header says %d (%s, shape %v)", what, got, want, pyRepr(descr), shape)
	}
	return nil
}

func truncatedOr(err error, f func() error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return f()
	}
	return err
}

// npyHeader checks the header dictionary: exactly the keys descr,
// fortran_order (a bool) and shape (a tuple of non-negative ints).
func npyHeader(text string) (descr any, shape []uint64, why string) {
	p := &pyParser{s: text}
	v, err := p.value(0)
	if err == nil {
		p.space()
		if p.i != len(p.s) {
			err = fmt.Errorf("text after the dictionary")
		}
	}
	if err != nil {
		return nil, nil, err.Error()
	}
	d, ok := v.(pyDict)
	if !ok {
		return nil, nil, "not a dictionary"
	}
	if len(d) != 3 || d["descr"] == nil || d["shape"] == nil {
		return nil, nil, "the keys are not exactly descr, fortran_order and shape"
	}
	if _, ok := d["fortran_order"].(bool); !ok {
		return nil, nil, "fortran_order is not True or False"
	}
	t, ok := d["shape"].(pyTuple)
	if !ok {
		return nil, nil, "shape is not a tuple"
	}
	for _, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, nil, "shape is not a tuple of non-negative integers"
		}
		shape = append(shape, uint64(n))
	}
	return d["descr"], shape, ""
}

// plainDtype matches the dtype strings np.save writes for arrays without
// objects: byte order, kind, size, datetime unit ("<f8", "|b1", "<U7",
// "<M8[ns]", "|V16").
var plainDtype = regexp.MustCompile(`^[<>|=]?([biufcmMSUV?])([0-9]*)(\[[0-9A-Za-z]+\])?$`)

// dtypeObject reports whether a descr may hold Python objects, in which
// case np.save wrote a pickle. Any dtype string but the plain ones counts
// as holding objects ("|O", "object", "i4,O", "(2,)O"...): misjudging a
// plain dtype costs a refusal, misjudging an object one would skip a
// pickle. ok is false when descr is not a dtype description.
func dtypeObject(descr any) (object, ok bool) {
	switch d := descr.(type) {
	case string:
		return !plainDtype.MatchString(d), true
	case pyList: // structured: (name, dtype) or (name, dtype, shape)
		for _, f := range d {
			t, ok := f.(pyTuple)
			if !ok || len(t) < 2 || len(t) > 3 {
				return false, false
			}
			switch n := t[0].(type) {
			case string:
			case pyTuple: // (title, name)
				if len(n) != 2 {
					return false, false
				}
			default:
				return false, false
			}
			if len(t) == 3 {
				if _, ok := t[2].(pyTuple); !ok {
					if _, ok := t[2].(int64); !ok {
						return false, false
					}
				}
			}
			obj, ok := dtypeObject(t[1])
			if !ok {
				return false, false
			}
			object = object || obj
		}
		return object, true
	}
	return false, false
}

// dtypeSize is the item size of a descr without objects, when it can be
// told (packed structured dtypes sum their fields).
func dtypeSize(descr any) (uint64, bool) {
	switch d := descr.(type) {
	case string:
		m := plainDtype.FindStringSubmatch(d)
		if m == nil {
			return 0, false
		}
		if m[2] == "" { // only "?" (bool) has a size without digits
			return 1, m[1] == "?"
		}
		n, err := strconv.ParseUint(m[2], 10, 32)
		if err != nil {
			return 0, false
		}
		if m[1] == "U" {
			n *= 4
		}
		return n, true
	case pyList:
		var total uint64
		for _, f := range d {
			t := f.(pyTuple)
			n, ok := dtypeSize(t[1])
			if !ok {
				return 0, false
			}
			if len(t) == 3 {
				var sub []uint64
				switch x := t[2].(type) {
				case int64:
					sub = []uint64{uint64(x)}
				case pyTuple:
					for _, y := range x {
						k, ok := y.(int64)
						if !ok || k < 0 {
							return 0, false
						}
						sub = append(sub, uint64(k))
					}
				}
				c, ok := product(sub)
				if !ok {
					return 0, false
				}
				var hi uint64
				if hi, n = bits.Mul64(n, c); hi != 0 {
					return 0, false
				}
			}
			var carry uint64
			if total, carry = bits.Add64(total, n, 0); carry != 0 {
				return 0, false
			}
		}
		return total, true
	}
	return 0, false
}

// product multiplies dimensions, reporting overflow as !ok.
func product(dims []uint64) (uint64, bool) {
	p := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(p, d)
		if hi != 0 {
			return 0, false
		}
		p = lo
	}
	return p, true
}

// Python literals, as ast.literal_eval reads the .npy header.
type (
	pyDict  map[string]any
	pyList  []any
	pyTuple []any
)

// pyParser parses the subset of Python literals .npy headers use: dicts
// with string keys, lists, tuples, strings, integers, True, False, None.
type pyParser struct {
	s string
	i int
}

const maxPyDepth = 32

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\n\r\f\v", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > maxPyDepth {
		return nil, fmt.Errorf("nested more than %d deep", maxPyDepth)
	}
	p.space()
	if p.i == len(p.s) {
		return nil, fmt.Errorf("ends early")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		d := pyDict{}
		err := p.items('}', depth, func() error {
			k, err := p.value(depth + 1)
			if err != nil {
				return err
			}
			ks, ok := k.(string)
			if !ok {
				return fmt.Errorf("a key that is not a string")
			}
			p.space()
			if p.i == len(p.s) || p.s[p.i] != ':' {
				return fmt.Errorf("no ':' after key %q", ks)
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return err
			}
			if _, dup := d[ks]; dup {
				return fmt.Errorf("key %q twice", ks)
			}
			d[ks] = v
			return nil
		})
		return d, err
	case c == '[' || c == '(':
		p.i++
		closer := byte(']')
		if c == '(' {
			closer = ')'
		}
		var items []any
		commas := 0
		err := p.items(closer, depth, func() error {
			v, err := p.value(depth + 1)
			items = append(items, v)
			return err
		}, &commas)
		if c == '[' {
			return pyList(items), err
		}
		if len(items) == 1 && commas == 0 {
			return items[0], err // parentheses, not a tuple
		}
		return pyTuple(items), err
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || c >= '0' && c <= '9':
		j := p.i + 1
		for j < len(p.s) && (p.s[j] >= '0' && p.s[j] <= '9' || p.s[j] == '_') {
			j++
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimPrefix(p.s[p.i:j], "+"), "_", ""), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad integer %q", p.s[p.i:j])
		}
		p.i = j
		return n, nil
	}
	for _, w := range []struct {
		word string
		v    any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.i:], w.word) {
			p.i += len(w.word)
			return w.v, nil
		}
	}
	return nil, fmt.Errorf("unexpected %q", p.s[p.i:min(p.i+10, len(p.s))])
}

// items parses comma-separated items up to closer, allowing a trailing
// comma; commas counts the commas when given.
func (p *pyParser) items(closer byte, depth int, item func() error, commas ...*int) error {
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			return nil
		}
		if err := item(); err != nil {
			return err
		}
		p.space()
		if p.i == len(p.s) {
			return fmt.Errorf("no closing %q", closer)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			if len(commas) > 0 {
				*commas[0]++
			}
		case closer:
		default:
			return fmt.Errorf("expected ',' or %q", closer)
		}
	}
}

// str parses a quoted string with the common escapes.
func (p *pyParser) str() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\n':
			return "", fmt.Errorf("a newline in a string")
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		if p.i == len(p.s) {
			break
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'x', 'u':
			n := 2
			if e == 'u' {
				n = 4
			}
			if p.i+n > len(p.s) {
				return "", fmt.Errorf("a bad \\%c escape", e)
			}
			v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil {
				return "", fmt.Errorf("a bad \\%c escape", e)
			}
			b.WriteRune(rune(v))
			p.i += n
		default:
			return "", fmt.Errorf("an escape \\%c the scanner does not read", e)
		}
	}
	return "", fmt.Errorf("an unterminated string")
}

// pyRepr prints a parsed literal roughly as Python would.
func pyRepr(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(x, "'", `\'`) + "'"
	case pyList:
		return "[" + reprItems(x) + "]"
	case pyTuple:
		if len(x) == 1 {
			return "(" + pyRepr(x[0]) + ",)"
		}
		return "(" + reprItems(x) + ")"
	}
	return fmt.Sprint(v)
}

func reprItems(xs []any) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = pyRepr(x)
	}
	return strings.Join(parts, ", ")
}
