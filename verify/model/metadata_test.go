package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSafetensorsHeader(t *testing.T) {
	withLen := func(n uint64, rest string) []byte {
		b := binary.LittleEndian.AppendUint64(nil, n)
		return append(b, rest...)
	}
	header := func(json string) []byte { return withLen(uint64(len(json)), json) }
	fixture, err := os.ReadFile(filepath.Join(fixtureDir, "tiny.safetensors"))
	must(t, err)
	tests := []struct {
		name    string
		data    []byte
		size    int64 // -1: unknown
		params  uint64
		types   map[string]uint64
		over    bool
		wantErr bool
	}{
		{"fixture", fixture, int64(len(fixture)), 136, map[string]uint64{"bfloat16": 128, "float32": 8}, false, false},
		{"scalar and empty shapes", header(`{"a":{"dtype":"I8","shape":[],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[0]}}`), -1, 1, map[string]uint64{"int8": 1, "uint8": 0}, false, false},
		{"unknown dtype kept lower-case", header(`{"x":{"dtype":"F8_E8M0"}}`), -1, 1, map[string]uint64{"f8_e8m0": 1}, false, false},
		{"overflowing shape", header(`{"x":{"dtype":"F32","shape":[4294967296,4294967296,4294967296]}}`), -1, 0, nil, true, false},
		{"header longer than the limit", withLen(maxSafetensorsHeader+1, "{}"), -1, 0, nil, false, true},
		{"header longer than the file", withLen(1000, "{}"), 10, 0, nil, false, true},
		{"header length 2^64-1", withLen(^uint64(0), "{}"), -1, 0, nil, false, true},
		{"truncated", withLen(100, "{}"), -1, 0, nil, false, true},
		{"short", []byte{1, 2, 3}, -1, 0, nil, false, true},
		{"not an object", withLen(2, "[]"), -1, 0, nil, false, true},
		{"negative dimension", header(`{"x":{"dtype":"F32","shape":[-1]}}`), -1, 0, nil, false, true},
		{"missing dtype", header(`{"x":{"shape":[1]}}`), -1, 0, nil, false, true},
		{"rank above the limit", header(`{"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}}`), -1, 0, nil, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := readSafetensorsHeader(bytes.NewReader(tc.data), tc.size)
			if tc.wantErr {
				if !errors.Is(err, errFormat) {
					t.Fatalf("err = %v, want errFormat", err)
				}
				return
			}
			must(t, err)
			if st.over != tc.over {
				t.Fatalf("over = %v", st.over)
			}
			if tc.over {
				return
			}
			if st.params != tc.params || len(st.byType) != len(tc.types) {
				t.Errorf("got %d %v, want %d %v", st.params, st.byType, tc.params, tc.types)
			}
			for k, v := range tc.types {
				if st.byType[k] != v {
					t.Errorf("%s: %d, want %d", k, st.byType[k], v)
				}
			}
		})
	}
}

func TestReadGGUFHeader(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join(fixtureDir, "tiny.gguf"))
	must(t, err)
	head := func(version uint32, tensors, kvs uint64) []byte {
		b := []byte("GGUF")
		b = binary.LittleEndian.AppendUint32(b, version)
		b = binary.LittleEndian.AppendUint64(b, tensors)
		return binary.LittleEndian.AppendUint64(b, kvs)
	}
	kvArray := func(elemType uint32, n uint64) []byte {
		b := head(3, 0, 1)
		b = binary.LittleEndian.AppendUint64(b, 1)
		b = append(b, 'k')
		b = binary.LittleEndian.AppendUint32(b, ggufArray)
		b = binary.LittleEndian.AppendUint32(b, elemType)
		return binary.LittleEndian.AppendUint64(b, n)
	}
	nested := head(3, 0, 1)
	nested = binary.LittleEndian.AppendUint64(nested, 1)
	nested = append(nested, 'k')
	for range maxGGUFNesting + 1 {
		nested = binary.LittleEndian.AppendUint32(nested, ggufArray)
		nested = binary.LittleEndian.AppendUint64(nested, 1)
	}
	longKey := head(3, 0, 1)
	longKey = binary.LittleEndian.AppendUint64(longKey, maxGGUFString+1)

	tests := []struct {
		name     string
		data     []byte
		arch     string
		fileType int64
		params   uint64
		wantErr  bool
	}{
		{"fixture", fixture, "llama", 1, 40, false},
		{"empty v2", head(2, 0, 0), "", -1, 0, false},
		{"bad magic", append([]byte("GGUX"), fixture[4:]...), "", 0, 0, true},
		{"version 1", head(1, 0, 0), "", 0, 0, true},
		{"big-endian", head(0x03000000, 0, 0), "", 0, 0, true},
		{"too many tensors", head(3, maxGGUFCount+1, 0), "", 0, 0, true},
		{"too many kvs", head(3, 0, 1<<62), "", 0, 0, true},
		{"truncated", fixture[:len(fixture)/3], "", 0, 0, true},
		{"huge array of u64", kvArray(ggufUint64, maxGGUFArray), "", 0, 0, true},
		{"array above the limit", kvArray(ggufUint8, maxGGUFArray+1), "", 0, 0, true},
		{"array of strings, truncated", kvArray(ggufString, 1000), "", 0, 0, true},
		{"arrays nested too deep", nested, "", 0, 0, true},
		{"string above the limit", longKey, "", 0, 0, true},
		{"bad value type", append(binary.LittleEndian.AppendUint32(append(binary.LittleEndian.AppendUint64(head(3, 0, 1), 1), 'k'), 99), 0), "", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := readGGUFHeader(bytes.NewReader(tc.data))
			if tc.wantErr {
				if !errors.Is(err, errFormat) {
					t.Fatalf("err = %v, want errFormat", err)
				}
				return
			}
			must(t, err)
			if info.arch != tc.arch || info.fileType != tc.fileType || info.tensors.params != tc.params {
				t.Errorf("got %q %d %d, want %q %d %d", info.arch, info.fileType, info.tensors.params, tc.arch, tc.fileType, tc.params)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadGGUFHeader_ReadsOnlyTheHeader(t *testing.T) {
	b := makeGGUF([]ggufKV{{"general.architecture", "llama"}}, []tensor{{name: "w", ggml: 0, shape: []uint64{1 << 20}, bytes: 4 << 20}})
	cr := &countingReader{r: bytes.NewReader(b)}
	if _, err := readGGUFHeader(cr); err != nil {
		t.Fatal(err)
	}
	if cr.n > 128<<10 {
		t.Errorf("read %d bytes of a %d-byte file for its header", cr.n, len(b))
	}
}

func TestHFConfigDtype(t *testing.T) {
	tests := map[string]string{
		`{"torch_dtype":"bfloat16"}`:          "bfloat16",
		`{"torch_dtype":"torch.float16"}`:     "float16",
		`{"dtype":"float32"}`:                 "float32",
		`{"torch_dtype":"half"}`:              "float16",
		`{"torch_dtype":null,"dtype":"bf16"}`: "bfloat16",
		`{"torch_dtype":{"x":1}}`:             "",
		`{"torch_dtype":"Not A \"Type\"\n"}`:  "",
		`{}`:                                  "",
	}
	for in, want := range tests {
		c, err := readHFConfig(strings.NewReader(in))
		must(t, err)
		if got := c.dtype(); got != want {
			t.Errorf("%s: dtype %q, want %q", in, got, want)
		}
	}
	if _, err := readHFConfig(io.MultiReader(strings.NewReader(`{"a":"`), strings.NewReader(strings.Repeat("x", maxConfigJSON)), strings.NewReader(`"}`))); !errors.Is(err, errFormat) {
		t.Errorf("oversized config.json: %v", err)
	}
}
