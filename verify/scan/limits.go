package scan

// Limits on everything a scanned file controls. A file that reaches a
// limit gets an Unsafe finding (rule "<format>.limit"): the scanner could
// not look at all of it, so it cannot call it safe. The one exception is
// MaxWrappedInMemory: content that is too large to judge without random
// access gets a NotScanned finding (wrap.limit), since nothing says it is
// hostile; it is not safe either.
const (
	// MaxFindings bounds the findings of one Report; a last finding counts
	// the ones left out.
	MaxFindings = 200
	// MaxNesting bounds archives and compressed streams inside one
	// another (a zip member that is a zip, a .keras holding an .npz, a
	// gzip inside a tar inside a zip...): each archive and each
	// decompression is one level. The file itself is level 0.
	MaxNesting = 8

	// MaxPickleOpcodes bounds the opcodes read from one file, all stacked
	// streams and archive members together (a 7B-parameter state dict
	// needs about 10^4).
	MaxPickleOpcodes = 1 << 25
	// MaxPickleStack bounds the pickle stack, marks included.
	MaxPickleStack = 1 << 20
	// MaxPickleMemo bounds the distinct memo indices of one stream.
	MaxPickleMemo = 1 << 20
	// MaxPickleStreams bounds the pickles stacked in one file or member.
	MaxPickleStreams = 1 << 10
	// MaxPickleLine bounds the argument of a text opcode (GLOBAL, INST,
	// STRING, UNICODE, INT, PUT...), newline included.
	MaxPickleLine = 1 << 26
	// MaxPickleName is the longest string the scanner keeps to resolve a
	// STACK_GLOBAL. Longer strings are skipped; naming a global with one
	// is Unsafe.
	MaxPickleName = 1 << 10
	// MaxPickleStrings bounds the bytes of strings kept per stream (on the
	// stack and in the memo). Strings past it are not kept; naming a global
	// with one is Unsafe.
	MaxPickleStrings = 32 << 20

	// MaxZipEntries bounds the entries of one zip archive.
	MaxZipEntries = 1 << 17
	// MaxZipDirectory bounds the size of a zip central directory.
	MaxZipDirectory = 64 << 20
	// MaxZipDecompressed bounds the bytes decompressed in one scan: from
	// zip members and from compressed streams (gzip, zlib, bz2, xz, lzma,
	// zstd), nested ones included (the output of every level counts).
	MaxZipDecompressed = 4 << 30
	// MaxZipRatio bounds the compression ratio (uncompressed over
	// compressed size) of a deflated member larger than 1 MiB.
	MaxZipRatio = 1000
	// MaxZipInMemory bounds a compressed member that must be read into
	// memory to be scanned (one that needs random access: a nested zip,
	// safetensors, GGUF). Stored members are read in place.
	MaxZipInMemory = 16 << 20

	// MaxWrapRatio bounds the compression ratio of a compressed stream
	// (gzip, zlib, bz2, xz, lzma, zstd): bytes out over bytes in, checked
	// once more than MaxWrapRatioAfter bytes came out. Deflate cannot go
	// past 1032:1, so no gzip or zlib stream reaches it; bz2, xz and zstd
	// can, on long runs of one byte.
	MaxWrapRatio = 2000
	// MaxWrapRatioAfter is how much a compressed stream may expand before
	// MaxWrapRatio applies.
	MaxWrapRatioAfter = 1 << 20
	// MaxWrappedInMemory bounds the content inside a compressed stream or
	// a tar that is read into memory to be scanned: content that needs
	// random access (a zip, safetensors, GGUF, NumPy, JSON, text,
	// anything not told by its first bytes). Larger content of those kinds
	// is not scanned (a NotScanned finding, wrap.limit); it is not spilled
	// to disk. Pickles, legacy torch.save files, tars and compressed
	// streams are read as streams, whatever their size.
	MaxWrappedInMemory = 16 << 20
	// MaxDictionary bounds the dictionary (window) an xz, lzma or zstd
	// stream may ask the decoder to allocate (xz -9 uses 64 MiB).
	MaxDictionary = 64 << 20
	// MaxTarMembers bounds the members of one tar archive.
	MaxTarMembers = 1 << 17

	// MaxJSONDepth bounds the nesting of a JSON document told as plain
	// data; a deeper one is not plain (FormatUnknown).
	MaxJSONDepth = 512

	// MaxNpyHeader bounds the header of a .npy file (NumPy itself refuses
	// headers over 10000 bytes unless told otherwise).
	MaxNpyHeader = 1 << 16

	// MaxSafetensorsHeader bounds the JSON header of a safetensors file,
	// as the reference implementation does.
	MaxSafetensorsHeader = 100 << 20
	// MaxSafetensorsTensors bounds the tensors of one safetensors file.
	MaxSafetensorsTensors = 1 << 20

	// MaxGGUFHeader bounds the bytes of a GGUF header: metadata and tensor
	// infos, up to the aligned start of the tensor data.
	MaxGGUFHeader = 512 << 20
	// MaxGGUFTensors bounds the tensor count of a GGUF file.
	MaxGGUFTensors = 1 << 20
	// MaxGGUFKV bounds the metadata key/value count of a GGUF file.
	MaxGGUFKV = 1 << 20
	// MaxGGUFKey bounds a metadata key, as the GGUF specification does.
	MaxGGUFKey = 1<<16 - 1
	// MaxGGUFString bounds one GGUF string value.
	MaxGGUFString = 64 << 20
	// MaxGGUFArray bounds the elements of one GGUF metadata array.
	MaxGGUFArray = 1 << 28
	// MaxGGUFNesting bounds arrays of arrays in GGUF metadata.
	MaxGGUFNesting = 4
	// MaxGGUFDims is the most dimensions a GGUF tensor may have
	// (GGML_MAX_DIMS).
	MaxGGUFDims = 4
	// MaxGGUFNames bounds the bytes of metadata keys and tensor names kept
	// to find duplicates; past it duplicates are not looked for (an Info
	// finding says so).
	MaxGGUFNames = 16 << 20

	// MaxKerasConfig bounds the config.json of a .keras archive.
	MaxKerasConfig = 64 << 20
	// MaxKerasDepth bounds the nesting of that JSON document.
	MaxKerasDepth = 512
)

// Limits tests lower to reach them quickly.
var (
	maxPickleOpcodes   int64 = MaxPickleOpcodes
	maxZipDecompressed int64 = MaxZipDecompressed
)
