// Package scan tells whether a weight file can run code when it is
// loaded. It reads bytes only: it never unpickles, imports, decompresses
// beyond its limits or executes anything from the file, and every count
// and size the file controls is bounded (limits.go).
//
// File, Reader and the per-format functions (Pickle, PyTorch, NumPy,
// Safetensors, GGUF, Keras) return a Report: the Format (one of the names
// a policy allows or refuses, with a Variant), the Wrappers the content
// was found in, Findings, each with a Severity, and a Verdict. A finding
// is data, not an error; errors are I/O failures of the file itself.
//
// # Verdicts
//
// Every Report has one of three verdicts, never two:
//
//   - VerdictSafe: a data-only format proved safe (safetensors, GGUF, a
//     .npy without objects or with objects whose pickle is safe, a pickle
//     or PyTorch file that imports only allow-listed globals, a .keras
//     archive without Lambda layers or foreign modules), or plainly data
//     (FormatJSON, FormatText); no finding is Unsafe or NotScanned.
//   - VerdictUnsafe: at least one Unsafe finding: loading the file can run
//     code, or the file is malformed in a way its reference reader refuses
//     (or readers disagree on), or it reached a limit meant to stop an
//     attack (a decompression bomb, nesting past MaxNesting).
//   - VerdictNotScanned: no Unsafe finding, but the scanner could not judge
//     (part of) the content: FormatUnknown (an unrecognised binary), HDF5,
//     7z, a tar member that is a link or a device, a joblib array stored
//     inline, joblib 0.9 arrays kept in other files, content over
//     MaxWrappedInMemory inside a compressed stream or a tar that needs
//     random access. Not proved safe: refuse it unless told otherwise.
//
// Report.Safe is Verdict == VerdictSafe. A Report built by hand has no
// verdict and is not safe.
//
// An empty file is FormatText, Variant "empty", safe: no loader runs
// anything from it. An encrypted zip member is Unsafe, not "not scanned":
// PyTorch's zip reader ignores the encryption flag and loads the member.
//
// # Detection
//
// The content decides the format; the file name is only a hint. In order:
// the .npy magic; a zip local header or end record at offset 0; 7z; GGUF;
// HDF5 (also after a user block); a safetensors header (a little-endian length that fits the file,
// then '{'); a pickle PROTO opcode (a legacy torch.save file when its
// first pickle is the PyTorch magic number); a compressed stream or a tar
// (see Wrappers). Content without magic bytes
// is a pickle (protocol 0 or 1) when its name ends in .pkl, .pickle, .pk,
// .pt, .pth, .ckpt or .joblib and its first byte is an opcode, or, whatever
// its name, when it parses as a pickle to the first STOP or up to a call
// of an imported global with a well-formed dotted name (what a loader
// would run before failing).
// Then a zip whose end record ends the file (Python's zipfile reads it
// whatever comes before). Then the name: .safetensors, .gguf, .npy, .npz,
// .keras and .zip files are checked as what they claim to be, and fail.
// Then plainly data, only now (a protocol 0 pickle is ASCII text): one
// JSON document (FormatJSON) or text (FormatText), both UTF-8 (a byte
// order mark may start them) without control characters other than tab,
// line feed, form feed and carriage return (no NUL, escape, DEL or C1
// control), JSON nested at most MaxJSONDepth deep. Anything else is
// FormatUnknown with a NotScanned finding (format.unknown). A strong name
// hint that the content contradicts is a Warning (format.mismatch).
//
// # Wrappers
//
// Compressed streams are recognised by their magic bytes, never by name:
// gzip (1f 8b 08), zlib as zlib.compress and joblib write it (0x78 and a
// header checksum that holds), joblib 0.9's "ZF" header before a zlib
// stream, bz2 ("BZh1" to "BZh9"), xz, lzma-alone (properties below 225, a
// dictionary of 2^n or 3*2^(n-1) bytes from 4 KiB, a size unknown or below
// 2^38: what liblzma accepts), zstd frames; a tar by a first header whose
// checksum holds. zlib and lzma-alone have weak magic (text can start with
// "x^"): a file that starts like one counts as one only when its first
// bytes decompress; inside another wrapper it counts as one, and a stream
// that then fails is Unsafe. They are read as streams and what is inside is scanned
// by content, nested, each level counting towards MaxNesting. Pickles and
// legacy torch.save files inside are scanned as they stream, whatever
// their size; content that needs random access (zip, safetensors, GGUF,
// NumPy with no known size, JSON, text, unknown) is read into memory up to
// MaxWrappedInMemory, past which it is not scanned (NotScanned, wrap.limit)
// rather than spilled to disk. Every stream counts against
// MaxZipDecompressed (all levels add up) and, past MaxWrapRatioAfter
// bytes, against MaxWrapRatio; an xz or lzma stream's dictionary against
// MaxDictionary (zstd's window too). A stream is read to its end, so that
// its checksum is checked; a corrupt stream is Unsafe (wrap.corrupt). A
// loader that ignores the wrapper reads the raw bytes as a pickle: the
// start of a compressed stream or tar is also parsed as one (all of it in
// a file, its first 512 bytes inside another wrapper), and its findings
// count when it parses to a call of an imported global or to its STOP.
//
// Report.Format is the format of the content inside, Report.Wrappers the
// wrappers outermost first (["gzip"], ["zip", "tar", "gzip"]). A tar or a
// zip of one member that is no known format is transparent (that member,
// inside "tar" or "zip"); of several, it is FormatArchive with Variant
// "tar" or "zip", whose verdict is the worst of its members' (every
// member's findings are the archive's).
//
// Tar members must have names as zip entries must (zip.name's rules: no
// absolute path, no "..", no backslash, NUL or invalid UTF-8), and appear
// once (tar.name: Unsafe); links, devices and FIFOs are not scanned
// (tar.link, tar.type: NotScanned); directories are skipped; a header
// archive/tar refuses is Unsafe (tar.corrupt); more than MaxTarMembers
// members is Unsafe (tar.limit).
//
// # Legacy torch.save tar checkpoints
//
// A tar with the members sys_info, pickle, storages and tensors is the
// checkpoint format of the first torch.save releases, which torch.load
// still tries first on any file (legacy_load in torch/serialization.py):
// FormatPyTorch, Variant "tar". sys_info and pickle are scanned as
// pickles. storages and tensors (when they start with PROTO) are pickles
// with raw data between them, read the way legacy_load reads them: in
// storages a count, then per storage a pickle (key, location, storage
// class) followed by an 8-byte element count and the elements (their size
// from the storage class), then the views; in tensors a count, then per
// tensor a pickle (key, storage id, tensor class) followed by ndim, 4
// bytes, ndim sizes, ndim strides and an offset. The storage and legacy
// tensor classes are allowed there; a pickle naming any other class is
// Unsafe (torch.format), and so is data cut short.
//
// # joblib
//
// joblib.dump writes a pickle in which joblib.numpy_pickle.NumpyArrayWrapper
// (or scikit-learn's old copy, sklearn.externals.joblib.numpy_pickle)
// stands for each NumPy array: allowed, exactly those names, as the
// tensor-rebuild globals are. A pickle that imports it is FormatJoblib
// (and so is the content of joblib 0.9's "ZF" header). joblib.load reads
// the array's bytes from the file right after the BUILD of the wrapper,
// and how many depends on the dtype and shape in the wrapper's state,
// which the scanner does not evaluate: the scan stops there, with a
// NotScanned finding (joblib.array). The wrappers of joblib 0.9
// (NDArrayWrapper, ZNDArrayWrapper) read arrays from other files:
// NotScanned (joblib.external).
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
// "keras.format"; "wrap.corrupt", "wrap.limit"; "tar.name", "tar.link",
// "tar.type", "tar.corrupt", "tar.limit"; "joblib.array",
// "joblib.external"; "format.unknown" (NotScanned), "format.unscanned"
// (HDF5: NotScanned; HDF5 weights in a .keras: Info), "format.mismatch",
// "archive.unsupported" (7z: NotScanned, its members cannot be read),
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
//     before any call of an imported global is reported as JSON, text or
//     unknown (a policy should not allow unknown files among the weights).
//     Text that happens to parse as such a pickle is reported as one.
//   - Safe text and JSON are plainly data, not weights: the scanner says
//     nothing of what a program does with them (a .py file is text).
//   - 7z archives and HDF5 files are not opened: not scanned.
//   - joblib files with NumPy arrays are not scanned past the first array.
//   - The xz decoder sizes its dictionary from each block's header; only
//     the first block's is checked against MaxDictionary before decoding
//     (later blocks of a multi-block stream could ask for up to 4 GiB,
//     which the Go runtime reserves but does not touch beyond what is
//     decoded, bounded by MaxZipDecompressed).
//   - The data of a legacy torch.save file after its pickles, the data/
//     entries of a PyTorch zip and the tensor data of safetensors and GGUF
//     files are not read. A bad CRC-32 is only seen in members that are
//     read to the end.
//   - Zip members over MaxZipInMemory that need random access (a nested
//     zip, safetensors, GGUF) are only scanned when stored uncompressed;
//     compressed, they are not scanned (wrap.limit).
package scan
