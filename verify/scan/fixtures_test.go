package scan_test

import (
	"archive/tar"
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cairn.dev/cairn/verify/scan"
)

var update = flag.Bool("update", false, "rewrite the fixtures under testdata/scan from their generators")

// fixtureDir holds the generated fixtures, relative to this package.
const fixtureDir = "../../testdata/scan"

// fixture is one generated file and what the scanner must say of it.
type fixture struct {
	path     string // under testdata/scan
	data     []byte
	verdict  scan.Verdict
	format   string   // Report.Format
	rules    []string // rules that must be among the findings
	wrappers []string // Report.Wrappers
}

func safeAs(path, format string, data []byte, rules ...string) fixture {
	return fixture{path: path, data: data, verdict: scan.VerdictSafe, format: format, rules: rules}
}

func unsafeAs(path, format string, data []byte, rules ...string) fixture {
	return fixture{path: path, data: data, verdict: scan.VerdictUnsafe, format: format, rules: rules}
}

func notScannedAs(path, format string, data []byte, rules ...string) fixture {
	return fixture{path: path, data: data, verdict: scan.VerdictNotScanned, format: format, rules: rules}
}

// in says the fixture's content is found inside wrappers, outermost
// first.
func (f fixture) in(wrappers ...string) fixture {
	f.wrappers = wrappers
	return f
}

// fixtures are generated opcode by opcode and record by record.
func fixtures() []fixture {
	const (
		P  = scan.FormatPickle
		T  = scan.FormatPyTorch
		U  = scan.FormatUnknown
		N  = scan.FormatNumPy
		S  = scan.FormatSafetensors
		G  = scan.FormatGGUF
		K  = scan.FormatKeras
		X  = scan.FormatText
		J  = scan.FormatJSON
		A  = scan.FormatArchive
		pd = "pickle/"
	)
	benign := pkl().proto(2).op(opEmptyDict).stop().bytes()
	fx := []fixture{
		// Pickle: benign, every opcode path.
		safeAs(pd+"benign_v0.pkl", P, pkl().mark().op('d').put(0).str("'a'").put(1).int("1").op(opSetItem).
			str(`"b"`).mark().op('l').put(2).raw("F1.5\n").op(opAppend).op(opNone).op(opAppend).uni(`caf\u00e9`).op(opAppend).
			op(opSetItem).raw("L12345678901234567890L\n").op(opPop).int("01").op(opPop).stop().bytes()),
		safeAs(pd+"benign_torch_v2.pkl", P, torchStateDict().bytes(), "pickle.persid"),
		safeAs(pd+"allops.pkl", P, allOps(), "pickle.persid"),
		safeAs(pd+"imports.pkl", P, importOps()),
		safeAs(pd+"codecs_bytes.pkl", P, pkl().proto(2).global("_codecs", "encode").bu("abc").bu("latin1").op(opTuple2, opReduce).stop().bytes()),
		safeAs(pd+"builtins_v2.pkl", P, pkl().proto(2).global("__builtin__", "set").op(opEmptyList).op(opTuple1, opReduce).
			global("__builtin__", "bytes").op(opEmptyTuple, opReduce).op(opTuple2).stop().bytes()),
		safeAs(pd+"persid.pkl", P, pkl().proto(2).raw("P0\n").stop().bytes(), "pickle.persid"),
		safeAs(pd+"empty.pkl", X, nil),
		safeAs(pd+"not_a_pickle.pkl", J, []byte("{\"a\": 1}\n")),
		safeAs(pd+"text_like_pickle.txt", X, []byte("cat and dog\nare friends\n")),
		safeAs(pd+"classes.txt", X, []byte("cat\ndog\nbird\n")),

		// Pickle: imports.
		unsafeAs(pd+"global.pkl", P, pkl().global("os", "system").mark().str("'id'").op(opTuple, opReduce).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"inst.pkl", P, pkl().mark().str("'id'").inst("subprocess", "Popen").stop().bytes(), "pickle.global"),
		unsafeAs(pd+"stack_global.pkl", P, evil("id").bytes(), "pickle.global"),
		unsafeAs(pd+"unnamed_v0", P, pkl().global("posix", "system").mark().str("'id'").op(opTuple, opReduce).raw("garbage").bytes(), "pickle.global"),
		unsafeAs(pd+"stack_global_memo.pkl", P, pkl().proto(4).sbu("os").memoize().op(opPop).sbu("system").memoize().op(opPop).
			binget(0).binget(1).op(opStackGlobal).sbu("id").op(opTuple1, opReduce).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"memo_other_index.pkl", P, pkl().proto(4).sbu("posix").put(7).op(opPop).sbu("system").lbinput(1000).op(opPop).
			get(7).lbinget(1000).op(opStackGlobal).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"memo_overwrite.pkl", P, pkl().proto(4).sbu("collections").binput(0).sbu("OrderedDict").binput(1).op(opPop, opPop).
			sbu("os").binput(0).sbu("system").binput(1).op(opPop, opPop).binget(0).binget(1).op(opStackGlobal).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"memoize_index.pkl", P, pkl().proto(4).sbu("junk").binput(5).op(opPop).sbu("os").memoize().op(opPop).sbu("system").memoize().op(opPop).
			binget(1).binget(2).op(opStackGlobal).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"unicode_escape.pkl", P, pkl().uni(`\u006fs`).uni(`\U00000073ystem`).op(opStackGlobal).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"string_escape.pkl", P, pkl().str(`'\x6fs'`).str(`'sys\164em'`).op(opStackGlobal).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"binstrings.pkl", P, pkl().proto(2).bs("os").sbs("system").op(opStackGlobal).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"binunicode8.pkl", P, pkl().proto(4).bu8("os").bu("system").op(opStackGlobal).stop().bytes(), "pickle.global"),
		unsafeAs(pd+"second_stream.pkl", P, append(append([]byte{}, benign...), evil("id").bytes()...), "pickle.global"),
		unsafeAs(pd+"ext1.pkl", P, pkl().proto(2).op(0x82, 1).op(opEmptyTuple, opReduce).stop().bytes(), "pickle.ext"),
		unsafeAs(pd+"ext2.pkl", P, pkl().proto(2).op(0x83).u16(300).stop().bytes(), "pickle.ext"),
		unsafeAs(pd+"ext4.pkl", P, pkl().proto(2).op(0x84).u32(70000).stop().bytes(), "pickle.ext"),

		// Pickle: operands.
		unsafeAs(pd+"stack_global_int.pkl", P, pkl().proto(4).k(42).sbu("os").op(opStackGlobal).stop().bytes(), "pickle.operand"),
		unsafeAs(pd+"stack_global_bytes.pkl", P, pkl().proto(4).sbb("os").sbu("system").op(opStackGlobal).stop().bytes(), "pickle.operand"),
		unsafeAs(pd+"stack_global_long.pkl", P, pkl().proto(4).bu(strings.Repeat("a", 2000)).sbu("x").op(opStackGlobal).stop().bytes(), "pickle.operand"),
		unsafeAs(pd+"reduce_computed.pkl", P, pkl().proto(2).global("collections", "OrderedDict").op(opEmptyTuple, opReduce).op(opEmptyTuple, opReduce).stop().bytes(), "pickle.operand"),
		unsafeAs(pd+"newobj_computed.pkl", P, pkl().proto(2).op(opNone).op(opEmptyTuple, opNewObj).stop().bytes(), "pickle.operand"),
		unsafeAs(pd+"build_global.pkl", P, pkl().proto(2).global("collections", "OrderedDict").op(opEmptyDict, opBuild).stop().bytes(), "pickle.operand"),

		// Pickle: evasions.
		unsafeAs(pd+"trailing.pkl", P, append(append([]byte{}, benign...), "\x00\x01garbage"...), "pickle.trailing"),
		unsafeAs(pd+"unknown_opcode.pkl", P, pkl().proto(2).op(opNone, 0xff).stop().bytes(), "pickle.opcode"),
		unsafeAs(pd+"truncated.pkl", P, pkl().proto(4).op('X').u32(100).raw("abc").bytes(), "pickle.truncated"),
		unsafeAs(pd+"no_stop.pkl", P, pkl().proto(2).op(opNone).bytes(), "pickle.truncated"),
		unsafeAs(pd+"underflow.pkl", P, pkl().proto(2).op(opNone, opTuple2).stop().bytes(), "pickle.stack"),
		unsafeAs(pd+"no_mark.pkl", P, pkl().proto(2).op(opNone, opTuple).stop().bytes(), "pickle.stack"),
		unsafeAs(pd+"obj_without_class.pkl", P, pkl().proto(2).mark().op(opObj).stop().bytes(), "pickle.stack"),
		unsafeAs(pd+"stop_on_mark.pkl", P, pkl().proto(2).op(opNone).mark().stop().bytes(), "pickle.stack"),
		unsafeAs(pd+"get_missing.pkl", P, pkl().proto(2).binget(9).stop().bytes(), "pickle.memo"),
		unsafeAs(pd+"bad_memo_index.pkl", P, pkl().op(opNone).raw("p0x1\n").stop().bytes(), "pickle.memo"),
		unsafeAs(pd+"proto6.pkl", P, pkl().proto(6).op(opNone).stop().bytes(), "pickle.protocol"),
		unsafeAs(pd+"unquoted_string.pkl", P, pkl().raw("Sos\n").stop().bytes(), "pickle.string"),
	}

	// PyTorch.
	tsData := pkl().proto(2).global("__torch__", "Net").op(opEmptyTuple, opNewObj).op(opEmptyDict, opBuild).stop().bytes()
	legacy := func(sysinfo []byte, streams int) []byte {
		parts := [][]byte{
			pkl().proto(2).op(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop().bytes(),
			pkl().proto(2).op('M').u16(1001).stop().bytes(),
			sysinfo,
			torchStateDict().bytes(),
			pkl().proto(2).op(opEmptyList).bu("0").op(opAppend).stop().bytes(),
		}
		var out []byte
		for _, p := range parts[:streams] {
			out = append(out, p...)
		}
		if streams == 5 { // storage "0": 4 floats
			out = append(out, 4, 0, 0, 0, 0, 0, 0, 0)
			out = append(out, make([]byte, 16)...)
		}
		return out
	}
	sysinfo := pkl().proto(2).op(opEmptyDict).mark().bu("little_endian").op(opNewTrue).op(opSetItems).stop().bytes()
	fx = append(fx,
		safeAs("pytorch/zip.pt", T, torchZip(torchStateDict().bytes())),
		unsafeAs("pytorch/zip_unsafe.pt", T, torchZip(evil("id").bytes()), "pickle.global"),
		unsafeAs("pytorch/zip_other_pkl.pt", T, torchZip(torchStateDict().bytes(), zf{name: "archive/extra/hook.pkl", data: evil("id").bytes(), descriptor: true}), "pickle.global"),
		safeAs("pytorch/zip_raw_data.pt", T, mkzip(zipOpts{},
			zf{name: "archive/data.pkl", data: torchStateDict().bytes(), descriptor: true},
			zf{name: "archive/data/0", data: evil("id").bytes(), descriptor: true})),
		safeAs("pytorch/torchscript.pt", T, mkzip(zipOpts{},
			zf{name: "archive/data.pkl", data: tsData},
			zf{name: "archive/constants.pkl", data: pkl().proto(2).op(opEmptyTuple).stop().bytes()},
			zf{name: "archive/code/__torch__.py", data: []byte("class Net(Module):\n  def forward(self, x):\n    return x\n")},
			zf{name: "archive/version", data: []byte("3\n")}), "torch.code"),
		unsafeAs("pytorch/torchscript_unsafe.pt", T, mkzip(zipOpts{},
			zf{name: "archive/data.pkl", data: tsData},
			zf{name: "archive/constants.pkl", data: evil("id").bytes()}), "pickle.global"),
		unsafeAs("pytorch/not_torchscript.pt", T, torchZip(tsData), "pickle.global"),
		safeAs("pytorch/legacy.pt", T, legacy(sysinfo, 5)),
		unsafeAs("pytorch/legacy_unsafe.pt", T, legacy(evil("id").bytes(), 5), "pickle.global"),
		unsafeAs("pytorch/legacy_truncated.pt", T, legacy(sysinfo, 3), "pickle.truncated"),
	)

	// Zip tricks.
	inner := evil("id").bytes()
	fx = append(fx,
		unsafeAs("zip/pickle_member.zip", P, mkzip(zipOpts{}, zf{name: "model/weights", data: inner}), "pickle.global").in("zip"),
		safeAs("zip/deflated.zip", P, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, deflate: true})).in("zip"),
		unsafeAs("zip/deflated_unsafe.zip", P, mkzip(zipOpts{}, zf{name: "a.pkl", data: inner, deflate: true}), "pickle.global").in("zip"),
		unsafeAs("zip/nested.zip", P, mkzip(zipOpts{}, zf{name: "inner.zip", data: mkzip(zipOpts{}, zf{name: "evil.pkl", data: inner})}), "pickle.global").in("zip", "zip"),
		safeAs("zip/zip64.zip", P, mkzip(zipOpts{zip64: true}, zf{name: "a.pkl", data: benign})).in("zip"),
		unsafeAs("zip/encrypted.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, flags: 1}), "zip.encrypted").in("zip"),
		unsafeAs("zip/patched.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, flags: 1 << 5}), "zip.flags").in("zip"),
		unsafeAs("zip/strong_encryption.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, flags: 1 << 6}), "zip.encrypted").in("zip"),
		unsafeAs("zip/unknown_flag.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, flags: 1 << 4}), "zip.flags").in("zip"),
		unsafeAs("zip/aes.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, method: ptr[uint16](99)}), "zip.encrypted").in("zip"),
		unsafeAs("zip/bzip2.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, method: ptr[uint16](12)}), "zip.method").in("zip"),
		unsafeAs("zip/name_mismatch.zip", U, mkzip(zipOpts{}, zf{name: "data.pkl", localName: "datap.kl", data: inner}), "zip.header").in("zip"),
		unsafeAs("zip/duplicate_name.zip", A, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign}, zf{name: "a.pkl", data: inner}), "zip.name"),
		unsafeAs("zip/traversal.zip", U, mkzip(zipOpts{}, zf{name: "../a.pkl", data: benign}), "zip.name").in("zip"),
		unsafeAs("zip/local_size.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, localSize: ptr[uint32](3)}), "zip.header").in("zip"),
		unsafeAs("zip/descriptor_crc.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, descriptor: true, descCRC: ptr[uint32](1)}), "zip.descriptor").in("zip"),
		unsafeAs("zip/size_beyond.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, size: ptr[uint32](1 << 30)}), "zip.bounds").in("zip"),
		unsafeAs("zip/offset_beyond.zip", U, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, offset: ptr[uint32](1 << 20)}), "zip.bounds").in("zip"),
		unsafeAs("zip/bad_crc.zip", P, mkzip(zipOpts{}, zf{name: "a.pkl", data: benign, crc: ptr[uint32](0x12345678)}), "zip.crc").in("zip"),
		unsafeAs("zip/overlap.zip", A, overlapZip(benign), "zip.bounds"),
		unsafeAs("zip/prefix.zip", A, mkzip(zipOpts{prefix: []byte("\x00\x01\x02\x03 not a zip header ")}, zf{name: "a.pkl", data: benign}), "zip.structure"),
		unsafeAs("zip/prefix_adjusted.zip", P, mkzip(zipOpts{prefix: []byte("\x00\x01\x02\x03 not a zip header "), adjust: true}, zf{name: "a.pkl", data: benign}), "zip.structure").in("zip"),
		unsafeAs("zip/two_end_records.zip", A, mkzip(zipOpts{comment: fakeEnd()}, zf{name: "a.pkl", data: benign}), "zip.structure"),
		unsafeAs("zip/directory_gap.zip", A, mkzip(zipOpts{cdGap: []byte("hidden")}, zf{name: "a.pkl", data: benign}), "zip.structure"),
		notScannedAs("zip/sevenzip.7z", U, append([]byte("7z\xbc\xaf\x27\x1c\x00\x04"), inner...), "archive.unsupported"),
	)

	// NumPy.
	objects := numpyObjects().bytes()
	fx = append(fx,
		safeAs("numpy/int32.npy", N, npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", make([]byte, 24))),
		safeAs("numpy/v2.npy", N, npy(2, "{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }", make([]byte, 16))),
		safeAs("numpy/v3.npy", N, npy(3, "{'descr': [('\u00e9t\u00e9', '<u2')], 'fortran_order': False, 'shape': (), }", make([]byte, 2))),
		safeAs("numpy/structured.npy", N, npy(1, "{'descr': [('a', '<i4'), ('b', '<f8', (2,))], 'fortran_order': False, 'shape': (2,), }", make([]byte, 40))),
		safeAs("numpy/object.npy", N, npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", objects), "npy.object"),
		safeAs("numpy/structured_object.npy", N, npy(1, "{'descr': [('a', '<i4'), ('b', '|O')], 'fortran_order': False, 'shape': (2,), }", objects), "npy.object"),
		unsafeAs("numpy/object_unsafe.npy", N, npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", inner), "npy.object", "pickle.global"),
		unsafeAs("numpy/object_typename.npy", N, npy(1, "{'descr': 'object', 'fortran_order': False, 'shape': (1,), }", inner), "pickle.global"),
		unsafeAs("numpy/object_trailing.npy", N, npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", append(append([]byte{}, objects...), benign...)), "pickle.trailing"),
		unsafeAs("numpy/bad_keys.npy", N, npy(1, "{'descr': '<i4', 'shape': (1,), 'extra': 1}", make([]byte, 4)), "npy.header"),
		unsafeAs("numpy/bad_version.npy", N, append([]byte("\x93NUMPY\x04\x00"), make([]byte, 60)...), "npy.header"),
		unsafeAs("numpy/trailing_data.npy", N, npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", make([]byte, 12)), "npy.size"),
		unsafeAs("numpy/short_data.npy", N, npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", make([]byte, 12)), "npy.size"),
		unsafeAs("numpy/header_limit.npy", N, append([]byte("\x93NUMPY\x02\x00\x00\x00\x10\x00"), "{'descr'"...), "npy.limit"),
		safeAs("numpy/arrays.npz", N, mkzip(zipOpts{},
			zf{name: "a.npy", data: npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", make([]byte, 4))},
			zf{name: "b.npy", data: npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", objects), deflate: true}), "npy.object"),
		unsafeAs("numpy/object_unsafe.npz", N, mkzip(zipOpts{},
			zf{name: "a.npy", data: npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", inner), deflate: true}), "pickle.global"),
	)

	// Safetensors.
	stOK := `{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]}}`
	fx = append(fx,
		safeAs("safetensors/ok.safetensors", S, st(stOK+"    ", make([]byte, 12))),
		safeAs("safetensors/no_tensors.safetensors", S, st(`{}`, nil)),
		safeAs("safetensors/subbyte.safetensors", S, st(`{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]},"b":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[2,5]}}`, make([]byte, 5))),
		unsafeAs("safetensors/hole.safetensors", S, st(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), "safetensors.offsets"),
		unsafeAs("safetensors/not_from_zero.safetensors", S, st(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "safetensors.offsets"),
		unsafeAs("safetensors/overlap.safetensors", S, st(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "safetensors.offsets"),
		unsafeAs("safetensors/size_mismatch.safetensors", S, st(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "safetensors.size"),
		unsafeAs("safetensors/trailing.safetensors", S, st(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, append(make([]byte, 8), benign...)), "safetensors.size"),
		unsafeAs("safetensors/past_end.safetensors", S, st(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8)), "safetensors.offsets"),
		unsafeAs("safetensors/oversize_header.safetensors", S, append([]byte{1, 0, 0x40, 6, 0, 0, 0, 0}, `{"a":1}`...), "safetensors.limit"),
		unsafeAs("safetensors/header_past_end.safetensors", S, append([]byte{0, 1, 0, 0, 0, 0, 0, 0}, `{"a":1}`...), "safetensors.header"),
		unsafeAs("safetensors/metadata_not_string.safetensors", S, st(`{"__metadata__":{"epoch":3}}`, nil), "safetensors.metadata"),
		unsafeAs("safetensors/bad_dtype.safetensors", S, st(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "safetensors.dtype"),
		unsafeAs("safetensors/duplicate_key.safetensors", S, st(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "safetensors.duplicate"),
		unsafeAs("safetensors/duplicate_field.safetensors", S, st(`{"a":{"dtype":"F32","dtype":"I8","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "safetensors.duplicate"),
		unsafeAs("safetensors/negative_shape.safetensors", S, st(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), "safetensors.shape"),
		unsafeAs("safetensors/shape_overflow.safetensors", S, st(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)), "safetensors.shape"),
		unsafeAs("safetensors/not_json.safetensors", S, st(`{"a":[}`, nil), "safetensors.header"),
		unsafeAs("safetensors/after_json.safetensors", S, st(`{} x`, nil), "safetensors.header"),
		safeAs("safetensors/pickle_named.safetensors", P, benign, "format.mismatch"),
	)

	// GGUF.
	okGGUF := func(version uint32, be bool) []byte {
		g := ggufHead(version, 2, 4)
		if be {
			g = &gg{be: true}
			g.raw("GGUF").u32(version).n(2).n(4)
		}
		g.kvStr("general.architecture", "llama")
		g.str("general.alignment").u32(4).u32(32)
		g.str("tokenizer.ggml.tokens").u32(9).u32(8).n(3).str("a").str("b").str("c")
		g.str("tokenizer.ggml.token_type").u32(9).u32(0).n(3).u8(1).u8(1).u8(1)
		g.tensor("a", 0, 0, 4).tensor("b", 8, 32, 32).align(32)
		g.b = append(g.b, make([]byte, 32+34)...)
		return g.b
	}
	oneTensor := func(typ uint32, off uint64, dims ...uint64) []byte {
		g := ggufHead(3, 1, 0).tensor("t", typ, off, dims...).align(32)
		g.b = append(g.b, make([]byte, 16)...)
		return g.b
	}
	fx = append(fx,
		safeAs("gguf/ok.gguf", G, okGGUF(3, false)),
		safeAs("gguf/v1.gguf", G, okGGUF(1, false)),
		safeAs("gguf/big_endian.gguf", G, okGGUF(3, true)),
		unsafeAs("gguf/bad_magic.gguf", G, append([]byte("GGUX"), okGGUF(3, false)[4:]...), "gguf.header"),
		unsafeAs("gguf/bad_version.gguf", G, ggufHead(4, 0, 0).b, "gguf.version"),
		unsafeAs("gguf/many_tensors.gguf", G, ggufHead(3, 1<<40, 0).b, "gguf.limit"),
		unsafeAs("gguf/implausible_count.gguf", G, ggufHead(3, 0, 1000).kvStr("a", "b").b, "gguf.count"),
		unsafeAs("gguf/string_past_end.gguf", G, ggufHead(3, 0, 1).str("k").u32(8).u64(1<<20).raw("short").b, "gguf.bounds"),
		unsafeAs("gguf/array_past_end.gguf", G, ggufHead(3, 0, 1).str("k").u32(9).u32(4).u64(1<<20).raw("short").b, "gguf.bounds"),
		unsafeAs("gguf/unknown_type.gguf", G, ggufHead(3, 0, 1).str("k").u32(13).u32(0).b, "gguf.type"),
		unsafeAs("gguf/duplicate_key.gguf", G, ggufHead(3, 0, 2).kvStr("k", "a").kvStr("k", "b").b, "gguf.duplicate"),
		unsafeAs("gguf/bad_alignment.gguf", G, ggufHead(3, 0, 1).str("general.alignment").u32(4).u32(24).b, "gguf.alignment"),
		unsafeAs("gguf/misaligned.gguf", G, oneTensor(0, 4, 1), "gguf.alignment"),
		unsafeAs("gguf/tensor_past_end.gguf", G, oneTensor(0, 0, 64), "gguf.bounds"),
		unsafeAs("gguf/too_many_dims.gguf", G, oneTensor(0, 0, 1, 1, 1, 1, 1), "gguf.tensor"),
		unsafeAs("gguf/truncated.gguf", G, ggufHead(3, 0, 1).str("general.name").b, "gguf.header"),
	)

	// Keras.
	dense := `{"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 2}, "registered_name": null}`
	lambda := `{"module": "keras.layers", "class_name": "Lambda", "config": {"name": "boom", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAA=="}}}, "registered_name": null}`
	seq := func(layers ...string) string {
		return `{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [` + strings.Join(layers, ", ") + `]}, "registered_name": null}`
	}
	keras := func(config string) []byte {
		return mkzip(zipOpts{},
			zf{name: "metadata.json", data: []byte(`{"keras_version": "3.5.0"}`)},
			zf{name: "config.json", data: []byte(config), deflate: true},
			zf{name: "model.weights.h5", data: []byte("\x89HDF\r\n\x1a\n\x00\x00")})
	}
	fx = append(fx,
		safeAs("keras/ok.keras", K, keras(seq(dense, dense))),
		unsafeAs("keras/lambda.keras", K, keras(`{"module": "keras", "class_name": "Functional", "config": {"name": "f", "layers": [`+seq(dense, lambda)+`]}}`), "keras.lambda"),
		unsafeAs("keras/module.keras", K, keras(seq(`{"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "function"}`)), "keras.module"),
		unsafeAs("keras/custom_object.keras", K, keras(seq(`{"module": "keras.layers", "class_name": "Evil", "config": {"name": "e"}, "registered_name": "MyPackage>Evil"}`)), "keras.module"),
		unsafeAs("keras/not_json.keras", K, keras(`{"class_name": `), "keras.config"),
		notScannedAs("keras/legacy.h5", U, []byte("\x89HDF\r\n\x1a\n\x00\x00\x00\x00"), "format.unscanned"),
		notScannedAs("keras/user_block.h5", U, append(make([]byte, 512), "\x89HDF\r\n\x1a\n\x00\x00\x00\x00"...), "format.unscanned"),
		unsafeAs("keras/config_only.zip", J, mkzip(zipOpts{}, zf{name: "config.json", data: []byte(seq(lambda))}), "keras.lambda").in("zip"),
	)
	fx = append(fx, wrapFixtures()...)
	return fx
}

// wrapFixtures are compressed streams, tars, legacy torch tars, joblib
// files and plain data. Names mislead on purpose: the content decides.
func wrapFixtures() []fixture {
	const (
		P = scan.FormatPickle
		T = scan.FormatPyTorch
		U = scan.FormatUnknown
		A = scan.FormatArchive
		B = scan.FormatJoblib
		J = scan.FormatJSON
		X = scan.FormatText
		w = "wrap/"
	)
	benign := torchStateDict().bytes()
	bad := evil("id").bytes()
	corrupt := gz(benign)
	corrupt[len(corrupt)-8] ^= 1 // the CRC-32
	sysinfo := pkl().proto(2).op(opEmptyDict).mark().bu("little_endian").op(opNewTrue).op(opSetItems).stop().bytes()
	fx := []fixture{
		safeAs(w+"gzip.bin", P, gz(benign), "pickle.persid").in("gzip"),
		unsafeAs(w+"gzip_evil.bin", P, gz(bad), "pickle.global").in("gzip"),
		safeAs(w+"zlib.bin", P, zl(benign), "pickle.persid").in("zlib"),
		unsafeAs(w+"zlib_evil.safetensors", P, zl(bad), "pickle.global", "format.mismatch").in("zlib"),
		safeAs(w+"joblib_zf.bin", B, joblibZF(benign)).in("zlib"),
		unsafeAs(w+"joblib_zf_evil.pkl", B, joblibZF(bad), "pickle.global").in("zlib"),
		safeAs(w+"bz2.bin", P, bz2Benign).in("bz2"),
		unsafeAs(w+"bz2_evil.bin", P, bz2Evil, "pickle.global").in("bz2"),
		safeAs(w+"xz.bin", P, xzs(benign), "pickle.persid").in("xz"),
		unsafeAs(w+"xz_evil.bin", P, xzs(bad), "pickle.global").in("xz"),
		safeAs(w+"lzma.bin", P, lzmaBenign).in("lzma"),
		unsafeAs(w+"lzma_evil.bin", P, lzmaEvil, "pickle.global").in("lzma"),
		safeAs(w+"zstd.bin", P, zst(benign), "pickle.persid").in("zstd"),
		unsafeAs(w+"zstd_evil.safetensors", P, zst(bad), "pickle.global", "format.mismatch").in("zstd"),
		safeAs(w+"tar.bin", P, mktar(tm{name: "model.pkl", data: benign}), "pickle.persid").in("tar"),
		unsafeAs(w+"tar_evil.bin", P, mktar(tm{name: "weights.bin", data: bad}), "pickle.global").in("tar"),
		unsafeAs(w+"zip_tar.safetensors", P, mkzip(zipOpts{}, zf{name: "model.safetensors", data: mktar(tm{name: "weights.bin", data: bad})}), "pickle.global").in("zip", "tar"),
		unsafeAs(w+"zip_tar_gzip.bin", P, mkzip(zipOpts{}, zf{name: "a.tar", data: mktar(tm{name: "model.safetensors", data: gz(bad)}), deflate: true}), "pickle.global").in("zip", "tar", "gzip"),
		unsafeAs(w+"gzip_tar_zstd.bin", P, gz(mktar(tm{name: "m", data: zst(xzs(bad))})), "pickle.global").in("gzip", "tar", "zstd", "xz"),
		unsafeAs(w+"gzip_gzip.bin", P, gz(gz(bad)), "pickle.global").in("gzip", "gzip"),
		unsafeAs(w+"tar_gz_zip.bin", P, gz(mktar(tm{name: "a.zip", data: mkzip(zipOpts{}, zf{name: "x", data: bad})})), "pickle.global").in("gzip", "tar", "zip"),
		safeAs(w+"tar_members.tar", A, mktar(tm{name: "d", typeflag: tar.TypeDir}, tm{name: "d/model.pkl", data: benign}, tm{name: "d/config.json", data: []byte(`{"a": [1, 2]}`)}), "pickle.persid"),
		unsafeAs(w+"tar_members_evil.tar", A, mktar(tm{name: "config.json", data: []byte(`{}`)}, tm{name: "data/x.bin", data: gz(bad)}), "pickle.global"),
		notScannedAs(w+"tar_members_unknown.tar", A, mktar(tm{name: "model.pkl", data: benign}, tm{name: "blob", data: []byte{0, 1, 2, 3, 0xfe, 0xff}}), "format.unknown"),
		notScannedAs(w+"tar_link.tar", A, mktar(tm{name: "model.pkl", data: benign}, tm{name: "other.pkl", typeflag: tar.TypeSymlink, link: "/etc/passwd"}), "tar.link"),
		unsafeAs(w+"tar_traversal.tar", U, mktar(tm{name: "../model.pkl", data: benign}), "tar.name").in("tar"),
		unsafeAs(w+"tar_duplicate.tar", A, mktar(tm{name: "model.pkl", data: benign}, tm{name: "model.pkl", data: bad}), "tar.name"),
		unsafeAs(w+"tar_truncated.tar", P, mktar(tm{name: "model.pkl", data: bad})[:600], "pickle.global").in("tar"),
		// The first header's name is a pickle: pickle.load of the file
		// runs os.system before it meets the rest of the header.
		unsafeAs(w+"tar_polyglot.pkl", P, mktar(tm{name: "cos\nsystem\n(S'id'\ntR.", data: benign}), "pickle.global").in("tar"),
		unsafeAs(w+"gzip_corrupt.bin", U, corrupt, "wrap.corrupt").in("gzip"),
		unsafeAs(w+"gzip_truncated.bin", U, gz(bad)[:20], "wrap.corrupt").in("gzip"),
		notScannedAs(w+"gzip_unknown.bin", U, gz([]byte{0, 1, 2, 3, 0xfe, 0xff}), "format.unknown").in("gzip"),
		safeAs(w+"gzip_json.gz", J, gz([]byte(`{"vocab": {"a": 1}}`))).in("gzip"),

		// Legacy torch.save tar checkpoints.
		safeAs("pytorch/legacy_tar.pth.tar", T, torchTar(sysinfo, torchTarPickle(), torchTarStorages("FloatStorage", 4), torchTarTensors())),
		unsafeAs("pytorch/legacy_tar_evil.pth.tar", T, torchTar(sysinfo, bad, torchTarStorages("FloatStorage", 4), torchTarTensors()), "pickle.global"),
		unsafeAs("pytorch/legacy_tar_evil_storage.bin", T, torchTar(sysinfo, torchTarPickle(), append(torchTarStorages("FloatStorage", 4), bad...), torchTarTensors()), "pickle.global"),
		unsafeAs("pytorch/legacy_tar_storage_type.bin", T, torchTar(sysinfo, torchTarPickle(), torchTarStorages("posix.system", 4), torchTarTensors()), "pickle.global"),
		unsafeAs("pytorch/legacy_tar_short.bin", T, torchTar(sysinfo, torchTarPickle(), torchTarStorages("FloatStorage", 4)[:60], torchTarTensors()), "torch.format"),

		// joblib.
		notScannedAs("joblib/array.joblib", B, joblibArray(), "joblib.array"),
		notScannedAs("joblib/array_zlib.pkl", B, zl(joblibArray()), "joblib.array").in("zlib"),
		unsafeAs("joblib/evil.joblib", B, joblibEvil(), "pickle.global"),
		notScannedAs("joblib/compat.pkl", B, pkl().proto(2).global("joblib.numpy_pickle_compat", "NDArrayWrapper").op(opEmptyTuple, opNewObj).stop().bytes(), "joblib.external"),

		// Plain data.
		safeAs("plain/tokenizer.json", J, []byte("\ufeff{\"model\": {\"vocab\": {\"caf\u00e9\": 0}}, \"added\": [null, true, 1.5e3]}\n")),
		safeAs("plain/README.md", X, []byte("# Model\r\n\tweights: \u00e9t\u00e9\f\n")),
		safeAs("plain/array.json", J, []byte("[1, 2, 3]")),
		// Starts like a zlib stream (78 5e), but does not decode as one.
		safeAs("plain/x_caret.txt", X, []byte("x^2 + y^2 = r^2\n")),
		unsafeAs("plain/number.safetensors", scan.FormatSafetensors, []byte("12"), "safetensors.header"),
		notScannedAs("plain/escape.txt", U, []byte("text with an escape \x1b[31m\n"), "format.unknown"),
		notScannedAs("plain/latin1.txt", U, []byte("caf\xe9\n"), "format.unknown"),
		notScannedAs("plain/nul.json", U, []byte("{\"a\": 1}\x00"), "format.unknown"),
	}
	return fx
}

// torchTar is a tar checkpoint of early torch.save.
func torchTar(sysinfo, pickle, storages, tensors []byte) []byte {
	return mktar(tm{name: "sys_info", data: sysinfo}, tm{name: "pickle", data: pickle},
		tm{name: "tensors", data: tensors}, tm{name: "storages", data: storages})
}

// torchTarPickle is the pickle member: a dict holding the tensor with
// persistent id "t0".
func torchTarPickle() []byte {
	return pkl().proto(2).op(opEmptyDict).bu("weight").raw("Pt0\n").op(opSetItem).stop().bytes()
}

// torchTarStorages is the storages member: a count, one storage (key,
// location, type) with its element count and data, then the views.
func torchTarStorages(typ string, n uint64) []byte {
	p := pkl().proto(2).k(1).stop()
	mod, name := "torch", typ
	if i := strings.LastIndexByte(typ, '.'); i >= 0 {
		mod, name = typ[:i], typ[i+1:]
	}
	p.proto(2).bu("s0").bu("cpu").global(mod, name).op(opTuple3).stop()
	p.u64(n).raw(strings.Repeat("\x00", int(n)*4))
	p.proto(2).op(opEmptyList).stop()
	return p.bytes()
}

// torchTarTensors is the tensors member: a count, one tensor (key,
// storage id, type), ndim, 4 bytes, sizes, strides, offset.
func torchTarTensors() []byte {
	p := pkl().proto(2).k(1).stop()
	p.proto(2).bu("t0").bu("s0").global("torch", "FloatTensor").op(opTuple3).stop()
	p.u32(1).u32(0).u64(4).u64(1).u64(0)
	return p.bytes()
}

// joblibArray is what joblib.dump writes for np.zeros(2): the
// NumpyArrayWrapper with its state, then the padding and the array's
// bytes inline, then the rest of the pickle.
func joblibArray() []byte {
	p := pkl().proto(4)
	p.stackGlobal("joblib.numpy_pickle", "NumpyArrayWrapper").op(opEmptyTuple, opNewObj)
	p.op(opEmptyDict).mark()
	p.sbu("subclass").stackGlobal("numpy", "ndarray")
	p.sbu("shape").k(2).op(opTuple1)
	p.sbu("order").sbu("C")
	p.sbu("dtype").stackGlobal("numpy", "dtype").sbu("f8").op(opNewFalse, opNewTrue, opTuple3, opReduce)
	p.mark().k(3).sbu("<").op(opNone, opNone, opNone).op('J').u32(0xffffffff).op('J').u32(0xffffffff).k(0).op(opTuple, opBuild)
	p.sbu("allow_mmap").op(opNewTrue)
	p.sbu("numpy_array_alignment_bytes").k(16)
	p.op(opSetItems, opBuild)
	p.raw("\x03\xff\xff\xff").raw(strings.Repeat("\x00", 16))
	return p.stop().bytes()
}

// joblibEvil imports joblib's wrapper and os.system.
func joblibEvil() []byte {
	p := pkl().proto(4)
	p.stackGlobal("joblib.numpy_pickle", "NumpyArrayWrapper").op(opPop)
	return append(p.bytes(), evil("id").bytes()[2:]...)
}

// allOps is a protocol 5 pickle that uses every opcode that imports
// nothing.
func allOps() []byte {
	p := pkl().proto(5).op(0x95).u64(0) // FRAME
	p.op(opEmptyList).memoize()
	p.mark()
	p.op('J').u32(7).k(1).op('M').u16(2).op(0x8a, 1, 5).op(0x8b).u32(2).raw("\x01\x02")
	p.int("3").raw("L4L\n").raw("F1.0\n").op('G').u64(0)
	p.op(opNone, opNewTrue, opNewFalse)
	p.str("'s'").bs("t").sbs("u").uni("v").bu("w").sbu("x").bu8("y")
	p.op('B').u32(1).raw("z").sbb("z").op(0x8e).u64(1).raw("z").op(0x96).u64(1).raw("z")
	p.op(opEmptyTuple).k(1).op(opTuple1).k(1).k(2).op(opTuple2).k(1).k(2).k(3).op(opTuple3)
	p.mark().k(1).op(opTuple).mark().k(1).op('l').mark().k(1).k(2).op('d')
	p.op(opEmptyDict).k(1).k(2).op(opSetItem).mark().k(3).k(4).op(opSetItems)
	p.op(0x8f).mark().k(1).op(0x90).mark().k(1).op(0x91)
	p.op(0x97, 0x98) // NEXT_BUFFER, READONLY_BUFFER
	p.raw("P0\n").k(0).op(opBinPersID)
	p.k(9).op('2', opPop) // DUP, POP
	p.mark().k(1).op('1') // POP_MARK
	p.mark().op(opPop)    // POP takes the MARK itself
	p.k(5).put(3).binput(4).lbinput(5).op(opPop).get(3).binget(4).lbinget(5)
	p.op(opAppends)
	return p.stop().bytes()
}

// importOps imports allow-listed globals through every import and call
// opcode.
func importOps() []byte {
	p := pkl().proto(4).op(0x95).u64(0)
	p.mark()
	p.global("collections", "OrderedDict").binput(100).op(opEmptyTuple, opReduce)
	p.stackGlobal("collections", "OrderedDict").op(opEmptyTuple, opNewObj).op(opEmptyDict, opBuild)
	p.stackGlobal("torch", "Size").op(opEmptyTuple, opEmptyDict, opNewObjEx)
	p.mark().inst("collections", "OrderedDict")
	p.mark().global("torch", "device").sbu("cpu").op(opObj)
	p.binget(100).op(opEmptyTuple, opReduce) // a global through the memo
	p.op(opTuple)
	return p.stop().bytes()
}

// overlapZip has an entry whose local header lies inside another entry's
// data.
func overlapZip(data []byte) []byte {
	innerEntry := mkzip(zipOpts{}, zf{name: "b.pkl", data: data})
	innerEntry = innerEntry[:30+len("b.pkl")+len(data)] // its local header and data only
	return mkzip(zipOpts{},
		zf{name: "a.bin", data: innerEntry},
		zf{name: "b.pkl", data: data, centralOnly: true, offset: ptr(uint32(30 + len("a.bin")))})
}

// fakeEnd is an end record that sits in the archive comment, ending the
// file too.
func fakeEnd() []byte {
	return []byte{0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
}

// TestFixtures_Generated regenerates every fixture in memory and compares
// it with the committed bytes (go test -run TestFixtures_Generated -update
// rewrites them).
func TestFixtures_Generated(t *testing.T) {
	want := map[string]bool{}
	for _, f := range fixtures() {
		p := filepath.Join(fixtureDir, filepath.FromSlash(f.path))
		if want[p] {
			t.Fatalf("fixture %s listed twice", f.path)
		}
		want[p] = true
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v (run go test ./verify/scan -run TestFixtures_Generated -update)", f.path, err)
			continue
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s: committed bytes differ from its generator (run with -update)", f.path)
		}
	}
	err := filepath.WalkDir(fixtureDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !want[p] {
			if *update {
				return os.Remove(p)
			}
			t.Errorf("%s: no generator makes it", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFile_Fixtures scans every committed fixture.
func TestFile_Fixtures(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.path, func(t *testing.T) {
			rep, err := scan.File(t.Context(), filepath.Join(fixtureDir, filepath.FromSlash(f.path)))
			if err != nil {
				t.Fatal(err)
			}
			var rules []string
			for _, x := range rep.Findings {
				rules = append(rules, x.Rule)
			}
			if rep.Verdict != f.verdict || rep.Format != f.format || !slices.Equal(rep.Wrappers, f.wrappers) {
				t.Errorf("%s format=%s wrappers=%v, want %s format=%s wrappers=%v", rep.Verdict, rep.Format, rep.Wrappers, f.verdict, f.format, f.wrappers)
			}
			if rep.Safe() != (f.verdict == scan.VerdictSafe) {
				t.Errorf("Safe() = %v with verdict %s", rep.Safe(), rep.Verdict)
			}
			if plain := f.verdict == scan.VerdictSafe && (f.format == scan.FormatJSON || f.format == scan.FormatText); rep.PlainData() != plain {
				t.Errorf("PlainData() = %v", rep.PlainData())
			}
			for _, r := range f.rules {
				if !slices.Contains(rules, r) {
					t.Errorf("no %s finding", r)
				}
			}
			if t.Failed() {
				for _, x := range rep.Findings {
					t.Logf("  %s", x)
				}
			}
		})
	}
}
