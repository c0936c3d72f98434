package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// safetensorsBits is the size in bits of each safetensors dtype (the
// reference implementation's list).
var safetensorsBits = map[string]uint64{
	"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
	"F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
	"BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64,
	"I64": 64, "U64": 64,
}

// stTensor is a tensor's place in the data.
type stTensor struct {
	name       string
	begin, end uint64
}

// safetensors checks a safetensors file: an 8-byte little-endian header
// length (at most MaxSafetensorsHeader), a JSON object with no duplicate
// keys and only spaces after it, __metadata__ mapping strings to strings,
// and for every tensor a known dtype, a shape whose byte size does not
// overflow and equals end-begin of its data_offsets; the tensors cover
// the data from 0 to its end with no hole, no overlap and no trailing
// bytes.
func (s *scanner) safetensors(r io.ReaderAt, size int64, entry string) {
	bad := func(rule string, off int64, format string, args ...any) {
		s.add(Unsafe, rule, entry, off, format, args...)
	}
	if size < 8 {
		bad("safetensors.header", 0, "%d bytes: shorter than the header length", size)
		return
	}
	b8, err := readAt(r, 0, 8)
	if err != nil {
		s.contentErr(err, entry)
		return
	}
	n := leUint(b8)
	switch {
	case n > MaxSafetensorsHeader:
		bad("safetensors.limit", 0, "a header of %d bytes: more than MaxSafetensorsHeader (%d)", n, MaxSafetensorsHeader)
		return
	case n > uint64(size-8):
		bad("safetensors.header", 0, "a header of %d bytes in a file of %d", n, size)
		return
	case n < 2:
		bad("safetensors.header", 0, "a header of %d bytes cannot hold a JSON object", n)
		return
	}
	hdr, err := readAt(r, 8, int(n))
	if err != nil {
		s.contentErr(err, entry)
		return
	}
	if hdr[0] != '{' {
		bad("safetensors.header", 8, "the header does not start with '{'")
		return
	}
	if !utf8.Valid(hdr) {
		bad("safetensors.header", 8, "the header is not UTF-8")
		return
	}
	dataSize := uint64(size) - 8 - n
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	jsonErr := func(err error) {
		bad("safetensors.header", 8+dec.InputOffset(), "the header is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != nil {
		jsonErr(err)
		return
	}
	var tensors []stTensor
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			jsonErr(err)
			return
		}
		key := tok.(string)
		at := 8 + dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			jsonErr(err)
			return
		}
		if seen[key] {
			bad("safetensors.duplicate", at, "key %q appears twice: readers disagree on which one counts", key)
			continue
		}
		seen[key] = true
		if key == "__metadata__" {
			if why := stMetadata(raw); why != "" {
				bad("safetensors.metadata", at, "__metadata__ %s", why)
			}
			continue
		}
		if len(seen) > MaxSafetensorsTensors {
			bad("safetensors.limit", at, "more than %d tensors (MaxSafetensorsTensors)", MaxSafetensorsTensors)
			return
		}
		if t, ok := s.stTensorInfo(key, raw, entry, at); ok {
			tensors = append(tensors, t)
		}
	}
	if _, err := dec.Token(); err != nil {
		jsonErr(err)
		return
	}
	for i, c := range hdr[dec.InputOffset():] {
		if c != ' ' {
			bad("safetensors.header", 8+dec.InputOffset()+int64(i), "bytes other than space padding after the header's JSON object")
			break
		}
	}

	slices.SortFunc(tensors, func(a, b stTensor) int {
		if a.begin != b.begin {
			return cmpU(a.begin, b.begin)
		}
		return cmpU(a.end, b.end)
	})
	var covered uint64
	prev := ""
	for _, t := range tensors {
		switch {
		case t.begin > covered:
			bad("safetensors.offsets", int64(8+n+covered), "data bytes %d to %d belong to no tensor (a hole before %q)", covered, t.begin, t.name)
		case t.begin < covered:
			bad("safetensors.offsets", int64(8+n+t.begin), "tensor %q overlaps %q", t.name, prev)
		}
		if t.end > covered {
			covered, prev = t.end, t.name
		}
	}
	switch {
	case covered > dataSize:
		bad("safetensors.offsets", int64(8+n), "tensor %q ends at %d, past the %d bytes of data", prev, covered, dataSize)
	case covered < dataSize:
		bad("safetensors.size", int64(8+n+covered), "%d trailing bytes after the last tensor", dataSize-covered)
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stMetadata says what is wrong with __metadata__, if anything: it must
// be an object of strings, without duplicate keys.
func stMetadata(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "is not an object"
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "is not JSON"
		}
		k := tok.(string)
		v, err := dec.Token()
		if err != nil {
			return "is not JSON"
		}
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("maps %q to a value that is not a string", k)
		}
		if seen[k] {
			return fmt.Sprintf("has key %q twice", k)
		}
		seen[k] = true
	}
	return ""
}

// stTensorInfo checks one tensor's entry and returns its place.
func (s *scanner) stTensorInfo(name string, raw json.RawMessage, entry string, at int64) (stTensor, bool) {
	bad := func(rule, format string, args ...any) (stTensor, bool) {
		s.add(Unsafe, rule, entry, at, "tensor %q: %s", name, fmt.Sprintf(format, args...))
		return stTensor{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad("safetensors.header", "not an object")
	}
	var (
		dtype        *string
		shape, offs  []json.Number
		fields       = map[string]bool{}
		unknownField string
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("safetensors.header", "not JSON")
		}
		k := tok.(string)
		if fields[k] {
			return bad("safetensors.duplicate", "field %q appears twice", k)
		}
		fields[k] = true
		switch k {
		case "dtype":
			err = dec.Decode(&dtype)
		case "shape":
			err = dec.Decode(&shape)
		case "data_offsets":
			err = dec.Decode(&offs)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
			unknownField = k
		}
		if err != nil {
			return bad("safetensors.header", "field %q has the wrong type", k)
		}
	}
	switch {
	case dtype == nil:
		return bad("safetensors.header", "no dtype")
	case shape == nil:
		return bad("safetensors.shape", "no shape")
	case offs == nil:
		return bad("safetensors.offsets", "no data_offsets")
	case len(offs) != 2:
		return bad("safetensors.offsets", "data_offsets has %d values, not 2", len(offs))
	}
	if unknownField != "" {
		s.add(Warning, "safetensors.header", entry, at, "tensor %q: unknown field %q", name, unknownField)
	}
	var t stTensor
	for i, o := range offs {
		v, err := strconv.ParseUint(string(o), 10, 64)
		if err != nil {
			return bad("safetensors.offsets", "data_offsets value %s is not a non-negative integer", o)
		}
		if i == 0 {
			t.begin = v
		} else {
			t.end = v
		}
	}
	t.name = name
	if t.end < t.begin {
		return bad("safetensors.offsets", "data_offsets [%d, %d] end before they begin", t.begin, t.end)
	}
	// From here on the tensor has a place in the data, whatever else is
	// wrong with it.
	width, ok := safetensorsBits[*dtype]
	if !ok {
		bad("safetensors.dtype", "unknown dtype %q", *dtype)
		return t, true
	}
	count := uint64(1)
	for _, d := range shape {
		v, err := strconv.ParseUint(string(d), 10, 64)
		if err != nil {
			bad("safetensors.shape", "dimension %s is not a non-negative integer", d)
			return t, true
		}
		var hi uint64
		if hi, count = bits.Mul64(count, v); hi != 0 {
			bad("safetensors.shape", "shape %v overflows", shape)
			return t, true
		}
	}
	hi, nbits := bits.Mul64(count, width)
	switch {
	case hi != 0:
		bad("safetensors.shape", "shape %v overflows", shape)
	case nbits%8 != 0:
		bad("safetensors.shape", "%d elements of %s are not a whole number of bytes", count, *dtype)
	case t.end-t.begin != nbits/8:
		bad("safetensors.size", "data_offsets [%d, %d] hold %d bytes, but %s × %v is %d bytes", t.begin, t.end, t.end-t.begin, *dtype, shape, nbits/8)
	}
	return t, true
}
