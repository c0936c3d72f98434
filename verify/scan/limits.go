package scan

// Limits on everything a scanned file controls. A file that reaches a
// limit gets an Unsafe finding (rule "<format>.limit"): the scanner could
// not look at all of it, so it cannot call it safe.
const (
	// MaxFindings bounds the findings of one Report; a last finding counts
	// the ones left out.
	MaxFindings = 200
	// MaxNesting bounds archives inside archives (a zip member that is a
	// zip, a .keras holding an .npz...). The file itself is level 0.
	MaxNesting = 4

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
	// MaxZipDecompressed bounds the bytes decompressed from archive
	// members in one scan, nested archives included.
	MaxZipDecompressed = 4 << 30
	// MaxZipRatio bounds the compression ratio (uncompressed over
	// compressed size) of a deflated member larger than 1 MiB.
	MaxZipRatio = 1000
	// MaxZipInMemory bounds a compressed member that must be read into
	// memory to be scanned (one that needs random access: a nested zip,
	// safetensors, GGUF). Stored members are read in place.
	MaxZipInMemory = 16 << 20

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
