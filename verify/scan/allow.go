package scan

import "strings"

// allowedGlobals are the globals a pickle may import: the classes and
// functions PyTorch and NumPy use to rebuild tensors and arrays, which
// build data and run no code the pickle chooses. Every other import is
// Unsafe. The references are picklescan's safe list and the allow-list of
// PyTorch's own weights_only unpickler (torch/_weights_only_unpickler.py).
//
// Spelled "module.name" exactly as the pickle names them. Python 2 era
// pickles (protocols 0 to 2, written by Python 3 with fix_imports) name
// builtins "__builtin__", so both spellings are listed.
//
// _codecs.encode is allowed because protocol 2, which torch.save uses by
// default, has no opcode for bytes: Python pickles a bytes value as
// _codecs.encode(text, "latin1"). The call turns a string into bytes with
// a codec found through the codec registry, which only loads modules of
// the standard encodings package (a name with a dot is refused by the
// search function); whatever it returns is data. PyTorch's weights_only
// unpickler allows it for the same reason.
var allowedGlobals = setOf(
	"collections.OrderedDict",

	"torch._utils._rebuild_tensor",
	"torch._utils._rebuild_tensor_v2",
	"torch._utils._rebuild_tensor_v3",
	"torch._utils._rebuild_parameter",
	"torch._utils._rebuild_parameter_with_state",
	"torch._utils._rebuild_qtensor",
	"torch._utils._rebuild_sparse_tensor",
	"torch._utils._rebuild_meta_tensor_no_storage",
	"torch._utils._rebuild_nested_tensor",
	"torch._utils._rebuild_device_tensor_from_cpu_tensor",
	"torch._utils._rebuild_device_tensor_from_numpy",
	"torch._tensor._rebuild_from_type_v2",
	"torch.nn.parameter.Parameter",
	"torch.serialization._get_layout",
	"torch.Size",
	"torch.device",

	// Storage classes, named in persistent ids and by legacy pickles.
	"torch.UntypedStorage",
	"torch.BFloat16Storage", "torch.BoolStorage", "torch.ByteStorage",
	"torch.CharStorage", "torch.ComplexDoubleStorage", "torch.ComplexFloatStorage",
	"torch.DoubleStorage", "torch.FloatStorage", "torch.HalfStorage",
	"torch.IntStorage", "torch.LongStorage", "torch.ShortStorage",
	"torch.QInt32Storage", "torch.QInt8Storage", "torch.QUInt2x4Storage",
	"torch.QUInt4x2Storage", "torch.QUInt8Storage",

	// dtypes (values, not callables), named by the newer rebuild functions.
	"torch.bfloat16", "torch.bool", "torch.complex32", "torch.complex64",
	"torch.complex128", "torch.float16", "torch.float32", "torch.float64",
	"torch.float8_e4m3fn", "torch.float8_e4m3fnuz", "torch.float8_e5m2",
	"torch.float8_e5m2fnuz", "torch.float8_e8m0fnu", "torch.int8",
	"torch.int16", "torch.int32", "torch.int64", "torch.uint8",
	"torch.uint16", "torch.uint32", "torch.uint64",

	"numpy.core.multiarray._reconstruct",
	"numpy._core.multiarray._reconstruct",
	"numpy.ndarray",
	"numpy.dtype",

	"_codecs.encode",

	// Constructors protocols 0 to 2 need for sets, bytes (b"" is
	// bytes()), bytearrays and complex numbers.
	"builtins.set", "builtins.frozenset", "builtins.bytes", "builtins.bytearray", "builtins.complex",
	"__builtin__.set", "__builtin__.frozenset", "__builtin__.bytes", "__builtin__.bytearray", "__builtin__.complex",
)

// joblibWrappers are the classes joblib.dump pickles in place of NumPy
// arrays (joblib/numpy_pickle.py; sklearn.externals.joblib is the copy
// scikit-learn shipped before 0.23). Making one builds a record of shape,
// order and dtype; joblib.load then reads the array's bytes from the file.
var joblibWrappers = setOf(
	"joblib.numpy_pickle.NumpyArrayWrapper",
	"sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
)

// joblibExternal are the wrappers of joblib 0.9 and older
// (numpy_pickle_compat), which load arrays from other files.
var joblibExternal = setOf(
	"joblib.numpy_pickle.NDArrayWrapper", "joblib.numpy_pickle.ZNDArrayWrapper",
	"joblib.numpy_pickle_compat.NDArrayWrapper", "joblib.numpy_pickle_compat.ZNDArrayWrapper",
	"sklearn.externals.joblib.numpy_pickle.NDArrayWrapper", "sklearn.externals.joblib.numpy_pickle.ZNDArrayWrapper",
)

// legacyTensorTypes are the tensor classes named in the tensors member of
// a tar checkpoint (torch.save before the stacked-pickle format), element
// sizes of the storage classes named in its storages member.
var legacyTensorTypes = setOf(
	"torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor", "torch.BFloat16Tensor",
	"torch.ByteTensor", "torch.CharTensor", "torch.ShortTensor", "torch.IntTensor",
	"torch.LongTensor", "torch.BoolTensor",
	"torch.cuda.FloatTensor", "torch.cuda.DoubleTensor", "torch.cuda.HalfTensor",
	"torch.cuda.ByteTensor", "torch.cuda.CharTensor", "torch.cuda.ShortTensor",
	"torch.cuda.IntTensor", "torch.cuda.LongTensor",
)

// storageSizes are the element sizes of the storage classes.
var storageSizes = map[string]uint64{
	"torch.UntypedStorage": 1, "torch.BoolStorage": 1, "torch.ByteStorage": 1, "torch.CharStorage": 1,
	"torch.QInt8Storage": 1, "torch.QUInt8Storage": 1, "torch.QUInt2x4Storage": 1, "torch.QUInt4x2Storage": 1,
	"torch.HalfStorage": 2, "torch.BFloat16Storage": 2, "torch.ShortStorage": 2,
	"torch.FloatStorage": 4, "torch.IntStorage": 4, "torch.QInt32Storage": 4,
	"torch.DoubleStorage": 8, "torch.LongStorage": 8, "torch.ComplexFloatStorage": 8,
	"torch.ComplexDoubleStorage": 16,
}

// torchScriptGlobals are allowed in the pickles of a TorchScript archive
// (one with a constants.pkl), which torch.load hands to torch.jit.load: its
// C++ unpickler resolves __torch__.* to classes compiled from the
// archive's code/ (reported as a Warning) and knows the torch.jit._pickle
// helpers, and imports nothing from Python.
func torchScriptGlobal(module string) bool {
	return module == "__torch__" || strings.HasPrefix(module, "__torch__.") ||
		module == "torch.jit._pickle"
}

// allowedGlobal reports whether a pickle may import module.name.
func allowedGlobal(module, name string, torchScript bool) bool {
	if allowedGlobals[module+"."+name] {
		return true
	}
	return torchScript && torchScriptGlobal(module)
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
