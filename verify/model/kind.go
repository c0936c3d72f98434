package model

import (
	"path"
	"strings"
)

// Classification of files by name (see Classify). Names are compared in
// lower case.
var (
	weightExts = setOf(
		".safetensors", ".gguf", ".ggml", ".bin", ".pt", ".pth", ".ckpt",
		".onnx", ".onnx_data", ".h5", ".hdf5", ".keras", ".npz", ".npy",
		".msgpack", ".pkl", ".pickle", ".joblib", ".tflite", ".lite",
		".mlmodel", ".pb", ".pdparams", ".pdmodel", ".caffemodel", ".mar",
		".nemo", ".engine", ".plan", ".ot", ".llamafile", ".dduf", ".mnn",
		".params", ".trt", ".xmodel",
	)
	weightConfigNames = setOf(
		"config.json", "generation_config.json", "tokenizer.json",
		"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
		"preprocessor_config.json", "processor_config.json", "merges.txt",
		"chat_template.json", "model_index.json", "adapter_config.json",
		"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
	)
	// weightConfigExts are tokenizer and configuration formats. ".model" is
	// a SentencePiece tokenizer (tokenizer.model, spiece.model).
	weightConfigExts = setOf(
		".json", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml",
		".model", ".tiktoken", ".jinja", ".proto", ".spm", ".vocab",
	)
	docPrefixes = []string{"readme", "license", "licence", "notice", "copying", "changelog", "authors", "model_card", "modelcard", "use_policy", "citation"}
	docExts     = setOf(
		".md", ".markdown", ".txt", ".rst", ".adoc", ".pdf", ".html", ".htm",
		".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".cff",
	)
	codeNames = setOf(
		"makefile", "dockerfile", "containerfile", "requirements.txt",
		"pyproject.toml", "setup.cfg", "setup.py", "modelfile", "kitfile",
	)
	codeExts = setOf(
		".py", ".pyi", ".sh", ".bash", ".zsh", ".ipynb", ".js", ".mjs", ".cjs",
		".ts", ".go", ".rs", ".c", ".cc", ".cpp", ".cxx", ".h", ".hpp", ".cu",
		".cuh", ".java", ".kt", ".scala", ".rb", ".r", ".jl", ".lua", ".pl",
		".php", ".swift", ".m", ".mm", ".ps1", ".bat", ".cmd", ".sql",
	)
)

func setOf(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// Classify returns the kind of a model file from its slash-separated path,
// and whether a rule matched (guessed is true when none did). Rules, on the
// lower-cased base name, first match wins:
//
//   - weight.config: config.json, generation_config.json, tokenizer.json,
//     tokenizer_config.json, special_tokens_map.json, merges.txt, vocab.*
//     and similar named files;
//   - code: Makefile, Dockerfile, requirements.txt, pyproject.toml, setup.py;
//   - doc: README*, LICENSE*, LICENCE*, NOTICE*, COPYING*, CHANGELOG*...;
//   - weight: .safetensors, .gguf, .bin, .pt, .pth, .ckpt, .onnx, .h5,
//     .keras, .npz, .npy, .msgpack, .pkl, .joblib, .tflite, .mlmodel, .pb...;
//   - weight.config: .json, .yaml, .toml, .model (SentencePiece), .tiktoken,
//     .jinja...;
//   - code: .py, .sh, .ipynb, .js, .go, .rs, .c, .cu...;
//   - doc: .md, .txt, .rst, .pdf, .html and images;
//   - anything else: weight.config, with guessed set (Build then marks the
//     layer with AnnotationMediaTypeUntested "true").
//
// An unknown file is not called a weight so that its layer does not claim a
// format it may not have; verifiers that care about executable formats
// should sniff content, not trust kinds.
func Classify(p string) (kind Kind, guessed bool) {
	name := strings.ToLower(path.Base(p))
	ext := path.Ext(name)
	switch {
	case weightConfigNames[name], strings.HasPrefix(name, "vocab."), strings.HasPrefix(name, "tokenizer."):
		if weightExts[ext] {
			return KindWeight, false
		}
		return KindWeightConfig, false
	case codeNames[name], strings.HasPrefix(name, "requirements") && ext == ".txt":
		return KindCode, false
	case hasDocPrefix(name):
		return KindDoc, false
	case weightExts[ext]:
		return KindWeight, false
	case weightConfigExts[ext]:
		return KindWeightConfig, false
	case codeExts[ext]:
		return KindCode, false
	case docExts[ext]:
		return KindDoc, false
	}
	return KindWeightConfig, true
}

func hasDocPrefix(name string) bool {
	for _, p := range docPrefixes {
		if strings.HasPrefix(name, p) {
			// "license.py" is still code, "readme_test.ipynb" a notebook.
			ext := path.Ext(name)
			return !codeExts[ext] && !weightExts[ext]
		}
	}
	return false
}

// IsWeight reports whether a file must be treated as weights by a
// verifier that fails closed: its layer's kind (from the media type, which
// the pusher chose) is weight or unknown, or its name is a weight's, or no
// rule classifies its name. Only a file that both its layer and its name
// call something else (configuration, code, documentation, dataset) is not.
func IsWeight(p string, layerKind Kind) bool {
	if layerKind == KindWeight || layerKind == "" {
		return true
	}
	k, guessed := Classify(p)
	return k == KindWeight || guessed
}
