// Package scan tells whether a weight file can run code when it is
// loaded. It reads bytes only: it never unpickles, imports, decompresses
// beyond its limits or executes anything from the file, and every count
// and size the file controls is bounded (limits.go).
//
// File, Reader and the per-format functions (Pickle, PyTorch, NumPy,
// Safetensors, GGUF, Keras) return a Report: the Format (one of the names
// a policy allows or refuses, with a Variant), and Findings, each with a
// Severity. A file is Safe when no finding is Unsafe. A finding is data,
// not an error; errors are I/O failures of the file itself.
//
// # Detection
//
// The content decides the format; the file name is only a hint. In order:
// the .npy magic; a zip local header or end record at offset 0; 7z; GGUF;
// HDF5 (also after a user block); a safetensors header (a little-endian length that fits the file,
// then '{'); a pickle PROTO opcode (a legacy torch.save file when its
// first pickle is the PyTorch magic number). Content without magic bytes
// is a pickle (protocol 0 or 1) when its name ends in .pkl, .pickle, .pk,
// .pt, .pth, .ckpt or .joblib and its first byte is an opcode, or, whatever
// its name, when it parses as a pickle to the first STOP or up to a call
// of an imported global with a well-formed dotted name (what a loader
// would run before failing).
// Then a zip whose end record ends the file (Python's zipfile reads it
// whatever comes before). Then the name: .safetensors, .gguf, .npy, .npz,
// .keras and .zip files are checked as what they claim to be, and fail.
// Anything else is FormatUnknown with an Info finding: not unsafe by
// itself, the policy decides. A strong name hint that the content
// contradicts is a Warning (format.mismatch).
//
// # Pickle
//
// Every opcode of protocols 0 to 5 is followed with a model of the stack
// and the memo: strings pushed by any string opcode (STRING with Python's
// escape decoding, UNICODE with raw-unicode-escape decoding, the binary
// ones), memoised by MEMOIZE (at index len(memo), as CPython does), PUT,
// BINPUT or LONG_BINPUT, fetched by GET, BINGET or LONG_BINGET, so that
// STACK_GLOBAL through the memo, a string memoised under one index and
// fetched under another, and overwritten memo entries all name the right
// global. GLOBAL, STACK_GLOBAL and INST imports must be on the allow-list
// (allow.go: the tensor-rebuild functions, storage and dtype names of
// PyTorch, NumPy's array reconstruction, collections.OrderedDict, a few
// builtins constructors, and _codecs.encode, which protocol 2 needs for
// bytes; picklescan's and PyTorch's weights_only lists are the
// reference); every other import is Unsafe, naming the global. Also
// Unsafe: EXT1, EXT2 and EXT4 (they import whatever copyreg's extension
// registry holds); REDUCE, NEWOBJ, NEWOBJ_EX or OBJ calling something that
// is not an imported global; BUILD applied to an imported global itself
// (it would overwrite attributes of a class or module); STACK_GLOBAL on
// values that are not strings, or on strings too long to keep. Evasions
// are Unsafe with their reason: an unknown opcode, a protocol above 5, a
// truncated stream or one without STOP, a memo index never set, stack
// underflow or a missing MARK, a malformed argument, a limit reached.
// PERSID and BINPERSID are expected in PyTorch files; in a plain pickle
// they are an Info finding (pickle.load refuses them).
//
// Stacked streams: after a STOP the scan goes on until the end of the
// data. Bytes after a STOP that do not start a pickle (a byte that is not
// an opcode) are Unsafe (pickle.trailing): a loader that calls load again
// would read them, the scanner cannot show they are harmless, and no
// benign writer leaves them. The exceptions are the raw storage bytes that
// follow the five pickles of a legacy torch.save file, which torch.load
// reads as data and the scanner does not read at all, and the payload of
// a .npy file, which must be exactly one pickle.
//
// # PyTorch
//
// A zip whose first entry's folder holds data.pkl is a PyTorch archive
// (Variant "zip"), a TorchScript archive when it also holds constants.pkl
// (Variant "torchscript": torch.load hands it to torch.jit.load). Every
// .pkl entry is scanned as a pickle (and .debug_pkl in TorchScript, where
// the globals __torch__.* and torch.jit._pickle.* are allowed too: the C++
// unpickler resolves them to classes compiled from code/). code/ entries
// are a Warning (torch.code). The data/ entries are raw tensor bytes and
// are not read; entries outside the folder are scanned by content. The
// legacy format (Variant "legacy") is five pickles (magic number,
// protocol, system info, the data, the storage keys) and raw storages.
//
// # Zip
//
// Every zip (PyTorch, .npz, .keras or any other) is checked before any
// member is read; archive/zip trusts the central directory, so the local
// headers are checked here. Unsafe, naming the entry: encrypted entries
// (flag bit 0, 6 or 13, method 99), compressed patched data (bit 5) and
// any flag bit other than 1, 2, 3 and 11; methods other than stored and
// deflated; a local header whose name, flags, method, CRC or sizes differ
// from the central directory (with flag bit 3 the local values may be
// zero and the data descriptor after the data must match); names that are
// empty, not UTF-8, absolute, with "..", NUL or backslashes; duplicate
// names; offsets or sizes beyond the file, entries that overlap, bytes
// before the first entry; more or fewer than one end record ending the
// file, a central directory that does not end where the end record
// starts, zip64 records that disagree, multi-disk archives; an archive
// archive/zip reads differently; a bad CRC-32 in a member that is read;
// a deflated member over 1 MiB compressed more than MaxZipRatio to 1.
// Members of an .npz, a .keras and any other zip are scanned by content,
// nested archives up to MaxNesting deep.
//
// # NumPy
//
// A .npy header must have the magic, version 1.0, 2.0 or 3.0, a length of
// at most MaxNpyHeader, and be a Python dict literal with exactly the keys
// descr, fortran_order (a bool) and shape (a tuple of non-negative ints).
// A descr that may hold objects ("|O", any dtype string np.save would not
// write for plain data, or a structured dtype with such a field) makes
// np.load unpickle the data: that is a Warning (npy.object) and the pickle
// that follows the header is scanned with the rules above, so an object
// array of plain values is Safe and one that imports anything else is
// not. Without objects, the data must be exactly item size x shape bytes
// (npy.size) when the item size can be told.
//
// # Safetensors
//
// An 8-byte little-endian header length of at most MaxSafetensorsHeader
// (100 MiB) that fits the file; a JSON object (UTF-8, starting with '{',
// only spaces after it) without duplicate keys; __metadata__, if present,
// an object of strings; for each tensor, a known dtype, a shape of
// non-negative integers whose byte size does not overflow and is a whole
// number of bytes, and data_offsets [begin, end] with end-begin equal to
// that size. Sorted by offset, the tensors must cover the data from 0 to
// its last byte: no hole, no overlap, no trailing bytes.
//
// # GGUF
//
// The magic, version 1 to 3 (little- or big-endian), tensor and metadata
// counts within MaxGGUFTensors and MaxGGUFKV and small enough to fit the
// file, every string and array inside the file and within its limit,
// known value types, arrays nested at most MaxGGUFNesting deep, no
// duplicate keys or tensor names, a general.alignment that is a uint32
// power of two, tensors with at most four dimensions whose data offsets
// are multiples of the alignment and, for known tensor types, whose data
// ends inside the file. Tensor types the scanner does not know are a
// Warning (their size is not checked).
//
// # Keras
//
// A .keras archive (config.json with metadata.json or the weights): any
// object of config.json, at any depth (layers nested in Functional,
// Sequential and Model configs included), with class_name Lambda (or
// __lambda__) is Unsafe, and so is a module outside keras (and the Keras
// team's keras_hub, keras_nlp, keras_cv, tf_keras) or a registered_name
// "package>Name" from another package. Keras reads config.json before it
// looks for the weights, so a config.json at the root of any zip is
// checked the same way. Legacy HDF5 (.h5) files, with or without a user
// block before the superblock, are detected and reported with a Warning
// as not scanned (format.unscanned), not parsed.
//
// # Rules
//
// Finding.Rule is "pickle.global", "pickle.ext", "pickle.operand",
// "pickle.memo", "pickle.stack", "pickle.string", "pickle.opcode",
// "pickle.protocol", "pickle.truncated", "pickle.trailing", "pickle.limit",
// "pickle.persid"; "zip.structure", "zip.bounds", "zip.header",
// "zip.descriptor", "zip.flags", "zip.encrypted", "zip.method", "zip.name",
// "zip.crc", "zip.corrupt", "zip.differential", "zip.limit"; "torch.code",
// "torch.format"; "npy.header", "npy.object", "npy.shape", "npy.size",
// "npy.limit", "npy.format"; "safetensors.header", "safetensors.duplicate",
// "safetensors.metadata", "safetensors.dtype", "safetensors.shape",
// "safetensors.offsets", "safetensors.size", "safetensors.limit";
// "gguf.header", "gguf.version", "gguf.count", "gguf.limit", "gguf.bounds",
// "gguf.type", "gguf.duplicate", "gguf.alignment", "gguf.tensor";
// "keras.lambda", "keras.module", "keras.config", "keras.limit",
// "keras.format"; "format.unknown", "format.unscanned", "format.mismatch",
// "archive.unsupported" (7z: Unsafe, its members cannot be read),
// "archive.nesting", "scan.findings".
//
// # Caveats
//
//   - Safe means no known way to run code by loading the file with the
//     loader of its format; it says nothing of the numbers in the tensors,
//     nor of code shipped beside the weights.
//   - The allow-list trusts the names of PyTorch's and NumPy's own
//     functions; a compromised torch or numpy installation is out of scope.
//   - Protocol 0 and 1 pickles have no magic bytes: in a file whose name is
//     not a pickle's, one that fails to parse before its first STOP and
//     before any call of an imported global is reported as unknown (a
//     policy should not allow unknown files among the weights). Text that
//     happens to parse as such a pickle is reported as one.
//   - 7z archives are Unsafe (not readable with the standard library); tar
//     archives and HDF5 files are not opened.
//   - The data of a legacy torch.save file after its pickles, the data/
//     entries of a PyTorch zip and the tensor data of safetensors and GGUF
//     files are not read. A bad CRC-32 is only seen in members that are
//     read to the end.
//   - Zip members over MaxZipInMemory that need random access (a nested
//     zip, safetensors, GGUF) are only scanned when stored uncompressed.
package scan
