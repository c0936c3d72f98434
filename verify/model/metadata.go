package model

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
)

// Bounds of the metadata readers. Files beyond them yield no metadata;
// they are not an error for Build.
const (
	// maxSafetensorsHeader is the largest safetensors JSON header read (the
	// format's own reference implementation allows 100 MB).
	maxSafetensorsHeader = 100 << 20
	// maxTensorDims bounds a tensor's rank.
	maxTensorDims = 16
	// maxGGUFRead bounds the bytes read from the start of a GGUF file
	// (metadata and tensor infos; a large vocabulary takes a few MiB).
	maxGGUFRead = 256 << 20
	// maxGGUFCount bounds GGUF's metadata key/value and tensor counts.
	maxGGUFCount = 1 << 20
	// maxGGUFArray bounds the elements of one GGUF metadata array.
	maxGGUFArray = 1 << 26
	// maxGGUFString bounds one GGUF string (keys and values alike).
	maxGGUFString = 1 << 24
	// maxGGUFNesting bounds arrays of arrays.
	maxGGUFNesting = 4
	// maxConfigJSON is the largest config.json read.
	maxConfigJSON = 16 << 20
)

var errFormat = errors.New("malformed header")

// tensorStats is what a weight file says about its tensors.
type tensorStats struct {
	params uint64            // sum over tensors of the product of the shape
	byType map[string]uint64 // parameters per precision name (spec names where known)
	over   bool              // params overflowed uint64: unknown
}

func (s *tensorStats) add(typ string, n uint64) {
	if s.byType == nil {
		s.byType = map[string]uint64{}
	}
	var carry uint64
	s.params, carry = bits.Add64(s.params, n, 0)
	if carry != 0 {
		s.over = true
	}
	s.byType[typ] += n
}

func (s *tensorStats) merge(o tensorStats) {
	for t, n := range o.byType {
		s.add(t, n)
	}
	s.over = s.over || o.over
}

// safetensorsPrecision maps safetensors dtypes to the precision names of
// the ModelPack config spec; others are lower-cased.
var safetensorsPrecision = map[string]string{
	"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
	"F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2",
	"C64": "complex64", "C128": "complex128", "C32": "complex32",
	"I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64",
	"U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64",
	"BOOL": "bool",
}

// readSafetensorsHeader reads the header of a safetensors file: 8 bytes of
// little-endian header length (at most maxSafetensorsHeader, and at most
// size-8 when size >= 0), then a JSON object of tensor name -> {dtype,
// shape, data_offsets} with an optional "__metadata__" entry. It does not
// check offsets (verify/scan does); it sums shape products per dtype.
func readSafetensorsHeader(r io.Reader, size int64) (tensorStats, error) {
	var st tensorStats
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return st, fmt.Errorf("%w: %v", errFormat, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n < 2 || n > maxSafetensorsHeader || (size >= 0 && n > uint64(size)-8) {
		return st, fmt.Errorf("%w: header length %d", errFormat, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return st, fmt.Errorf("%w: %v", errFormat, err)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(buf, &header); err != nil {
		return st, fmt.Errorf("%w: %v", errFormat, err)
	}
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var t struct {
			Dtype string  `json:"dtype"`
			Shape []int64 `json:"shape"`
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return tensorStats{}, fmt.Errorf("%w: tensor %q: %v", errFormat, name, err)
		}
		if t.Dtype == "" || len(t.Shape) > maxTensorDims {
			return tensorStats{}, fmt.Errorf("%w: tensor %q", errFormat, name)
		}
		count := uint64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return tensorStats{}, fmt.Errorf("%w: tensor %q: negative dimension", errFormat, name)
			}
			hi, lo := bits.Mul64(count, uint64(d))
			if hi != 0 {
				st.over = true
			}
			count = lo
		}
		p, ok := safetensorsPrecision[t.Dtype]
		if !ok {
			p = strings.ToLower(t.Dtype)
		}
		st.add(p, count)
	}
	return st, nil
}

// ggufInfo is what a GGUF header says.
type ggufInfo struct {
	arch     string // general.architecture
	fileType int64  // general.file_type, -1 if absent
	tensors  tensorStats
}

// GGUF metadata value types.
const (
	ggufUint8 = iota
	ggufInt8
	ggufUint16
	ggufInt16
	ggufUint32
	ggufInt32
	ggufFloat32
	ggufBool
	ggufString
	ggufArray
	ggufUint64
	ggufInt64
	ggufFloat64
)

// ggmlTypeNames names the tensor storage types of ggml (ggml.h ggml_type);
// unquantized ones use the spec's precision names.
var ggmlTypeNames = map[uint32]string{
	0: "float32", 1: "float16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1",
	8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K",
	14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
	19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
	24: "int8", 25: "int16", 26: "int32", 27: "int64", 28: "float64",
	29: "IQ1_M", 30: "bfloat16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

// ggufFileTypes names llama.cpp's llama_ftype values (general.file_type).
var ggufFileTypes = map[int64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16", 7: "Q8_0",
	8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M",
	13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
	18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
	23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
	28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
	33: "Q4_0_4_4", 34: "Q4_0_4_8", 35: "Q4_0_8_8", 36: "TQ1_0", 37: "TQ2_0",
	38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}

// ggufPrecision is the precision of the unquantized file types.
var ggufPrecision = map[int64]string{0: "float32", 1: "float16", 32: "bfloat16"}

// ggufReader reads little-endian GGUF values, counting bytes against
// maxGGUFRead.
type ggufReader struct {
	r    *bufio.Reader
	read int64
	buf  [8]byte
}

func (g *ggufReader) take(n int64) error {
	g.read += n
	if g.read > maxGGUFRead {
		return fmt.Errorf("%w: header larger than %d bytes", errFormat, maxGGUFRead)
	}
	return nil
}

func (g *ggufReader) fixed(n int) ([]byte, error) {
	if err := g.take(int64(n)); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(g.r, g.buf[:n]); err != nil {
		return nil, fmt.Errorf("%w: %v", errFormat, err)
	}
	return g.buf[:n], nil
}

func (g *ggufReader) u32() (uint32, error) {
	b, err := g.fixed(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (g *ggufReader) u64() (uint64, error) {
	b, err := g.fixed(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (g *ggufReader) skip(n uint64) error {
	if n > maxGGUFRead {
		return fmt.Errorf("%w: value larger than %d bytes", errFormat, maxGGUFRead)
	}
	if err := g.take(int64(n)); err != nil {
		return err
	}
	if _, err := g.r.Discard(int(n)); err != nil {
		return fmt.Errorf("%w: %v", errFormat, err)
	}
	return nil
}

// str reads a GGUF string; it keeps at most keep bytes (the rest is
// skipped), so that no allocation follows an untrusted length.
func (g *ggufReader) str(keep int) (string, error) {
	n, err := g.u64()
	if err != nil {
		return "", err
	}
	if n > maxGGUFString {
		return "", fmt.Errorf("%w: string of %d bytes", errFormat, n)
	}
	k := min(n, uint64(keep))
	if err := g.take(int64(k)); err != nil {
		return "", err
	}
	b := make([]byte, k)
	if _, err := io.ReadFull(g.r, b); err != nil {
		return "", fmt.Errorf("%w: %v", errFormat, err)
	}
	if err := g.skip(n - k); err != nil {
		return "", err
	}
	return string(b), nil
}

var ggufScalarSize = map[uint32]uint64{
	ggufUint8: 1, ggufInt8: 1, ggufBool: 1, ggufUint16: 2, ggufInt16: 2,
	ggufUint32: 4, ggufInt32: 4, ggufFloat32: 4, ggufUint64: 8, ggufInt64: 8,
	ggufFloat64: 8,
}

// value reads (and mostly skips) one metadata value of type t. It returns
// the value as an int64 for integer types and as a string for strings
// (at most 256 bytes kept).
func (g *ggufReader) value(t uint32, depth int) (int64, string, error) {
	switch t {
	case ggufString:
		s, err := g.str(256)
		return 0, s, err
	case ggufArray:
		if depth >= maxGGUFNesting {
			return 0, "", fmt.Errorf("%w: arrays nested too deep", errFormat)
		}
		et, err := g.u32()
		if err != nil {
			return 0, "", err
		}
		n, err := g.u64()
		if err != nil {
			return 0, "", err
		}
		if n > maxGGUFArray {
			return 0, "", fmt.Errorf("%w: array of %d elements", errFormat, n)
		}
		if sz, ok := ggufScalarSize[et]; ok {
			return 0, "", g.skip(sz * n)
		}
		if et != ggufString && et != ggufArray {
			return 0, "", fmt.Errorf("%w: value type %d", errFormat, et)
		}
		for range n {
			if et == ggufString {
				if _, err := g.str(0); err != nil {
					return 0, "", err
				}
			} else if _, _, err := g.value(et, depth+1); err != nil {
				return 0, "", err
			}
		}
		return 0, "", nil
	}
	sz, ok := ggufScalarSize[t]
	if !ok {
		return 0, "", fmt.Errorf("%w: value type %d", errFormat, t)
	}
	b, err := g.fixed(int(sz))
	if err != nil {
		return 0, "", err
	}
	switch t {
	case ggufUint8, ggufBool:
		return int64(b[0]), "", nil
	case ggufInt8:
		return int64(int8(b[0])), "", nil
	case ggufUint16:
		return int64(binary.LittleEndian.Uint16(b)), "", nil
	case ggufInt16:
		return int64(int16(binary.LittleEndian.Uint16(b))), "", nil
	case ggufUint32:
		return int64(binary.LittleEndian.Uint32(b)), "", nil
	case ggufInt32:
		return int64(int32(binary.LittleEndian.Uint32(b))), "", nil
	case ggufUint64:
		v := binary.LittleEndian.Uint64(b)
		if v > math.MaxInt64 {
			return -1, "", nil
		}
		return int64(v), "", nil
	case ggufInt64:
		return int64(binary.LittleEndian.Uint64(b)), "", nil
	}
	return 0, "", nil // floats are not needed
}

// readGGUFHeader reads a GGUF (version 2 or 3, little-endian) header: magic
// "GGUF", version, tensor count, metadata count, the metadata key/values
// (keeping general.architecture and general.file_type) and the tensor infos
// (summing shape products per ggml type). Everything is bounded by the
// maxGGUF* limits; tensor data is never read.
func readGGUFHeader(r io.Reader) (ggufInfo, error) {
	info := ggufInfo{fileType: -1}
	g := &ggufReader{r: bufio.NewReaderSize(r, 64<<10)}
	magic, err := g.fixed(4)
	if err != nil {
		return info, err
	}
	if string(magic) != "GGUF" {
		return info, fmt.Errorf("%w: not GGUF", errFormat)
	}
	version, err := g.u32()
	if err != nil {
		return info, err
	}
	if version != 2 && version != 3 {
		return info, fmt.Errorf("%w: GGUF version %d", errFormat, version)
	}
	nTensors, err := g.u64()
	if err != nil {
		return info, err
	}
	nKV, err := g.u64()
	if err != nil {
		return info, err
	}
	if nTensors > maxGGUFCount || nKV > maxGGUFCount {
		return info, fmt.Errorf("%w: %d tensors, %d metadata entries", errFormat, nTensors, nKV)
	}
	for range nKV {
		key, err := g.str(256)
		if err != nil {
			return info, err
		}
		t, err := g.u32()
		if err != nil {
			return info, err
		}
		n, s, err := g.value(t, 0)
		if err != nil {
			return info, err
		}
		switch {
		case key == "general.architecture" && t == ggufString:
			info.arch = s
		case key == "general.file_type" && t != ggufString && t != ggufArray:
			info.fileType = n
		}
	}
	for range nTensors {
		if _, err := g.str(0); err != nil {
			return info, err
		}
		nDims, err := g.u32()
		if err != nil {
			return info, err
		}
		if nDims > maxTensorDims {
			return info, fmt.Errorf("%w: tensor of rank %d", errFormat, nDims)
		}
		count := uint64(1)
		for range nDims {
			d, err := g.u64()
			if err != nil {
				return info, err
			}
			hi, lo := bits.Mul64(count, d)
			if hi != 0 {
				info.tensors.over = true
			}
			count = lo
		}
		typ, err := g.u32()
		if err != nil {
			return info, err
		}
		if _, err := g.u64(); err != nil { // offset
			return info, err
		}
		name, ok := ggmlTypeNames[typ]
		if !ok {
			name = fmt.Sprintf("ggml_type_%d", typ)
		}
		info.tensors.add(name, count)
	}
	return info, nil
}

// hfConfig is the part of a Hugging Face config.json that Build reads.
type hfConfig struct {
	Architectures []string `json:"architectures"`
	ModelType     string   `json:"model_type"`
	TorchDtype    any      `json:"torch_dtype"`
	Dtype         any      `json:"dtype"` // newer transformers write dtype
	// QuantizationConfig names the method of pre-quantized checkpoints
	// (gptq, awq, bitsandbytes, fp8...).
	QuantizationConfig struct {
		QuantMethod string `json:"quant_method"`
	} `json:"quantization_config"`
}

// readHFConfig reads config.json (at most maxConfigJSON bytes).
func readHFConfig(r io.Reader) (hfConfig, error) {
	var c hfConfig
	b, err := io.ReadAll(io.LimitReader(r, maxConfigJSON+1))
	if err != nil {
		return c, err
	}
	if len(b) > maxConfigJSON {
		return c, fmt.Errorf("%w: config.json larger than %d bytes", errFormat, maxConfigJSON)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: %v", errFormat, err)
	}
	return c, nil
}

// dtype is the precision config.json names, in the spec's vocabulary.
func (c hfConfig) dtype() string {
	for _, v := range []any{c.TorchDtype, c.Dtype} {
		s, _ := v.(string)
		s = strings.TrimPrefix(strings.ToLower(s), "torch.")
		switch s {
		case "":
			continue
		case "float", "fp32":
			return "float32"
		case "half", "fp16":
			return "float16"
		case "bf16":
			return "bfloat16"
		case "double":
			return "float64"
		}
		if isIdent(s) {
			return s
		}
	}
	return ""
}

// isIdent accepts short lower-case names, so that config values carry no
// surprises into the config blob.
func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// formatParamSize writes a parameter count as the spec's paramSize:
// <count><scale-prefix> with at most one decimal and a lower-case prefix
// (k, m, b, t, q): 8030261248 -> "8b", 6738415616 -> "6.7b", 1500000 ->
// "1.5m". Counts below 1000 have no prefix to express them and are written
// as plain integers ("12").
func formatParamSize(n uint64) string {
	if n < 1000 {
		return fmt.Sprint(n)
	}
	scales := []struct {
		div    float64
		suffix string
	}{{1e3, "k"}, {1e6, "m"}, {1e9, "b"}, {1e12, "t"}, {1e15, "q"}}
	i := 0
	for i+1 < len(scales) && float64(n) >= scales[i+1].div {
		i++
	}
	tenths := math.Round(float64(n) / scales[i].div * 10)
	if tenths >= 10000 && i+1 < len(scales) { // 999.96m rounds to 1000.0m: say 1b
		i++
		tenths = math.Round(float64(n) / scales[i].div * 10)
	}
	whole, frac := int64(tenths)/10, int64(tenths)%10
	if frac == 0 {
		return fmt.Sprintf("%d%s", whole, scales[i].suffix)
	}
	return fmt.Sprintf("%d.%d%s", whole, frac, scales[i].suffix)
}
