// Package model is cairn's artifact format: how a model or dataset
// directory becomes OCI layers, a config and a manifest following the CNCF
// ModelPack specification (modelpack/model-spec, v1), and how a pulled
// manifest becomes a safe list of files to write.
//
// Packing is Scan, then hashing each Entry's Open() bytes (the caller does
// that, in parallel, and pushes them), then Build:
//
//	entries, err := model.Scan(dir, model.ScanOptions{})
//	// digests[i] = sha256 of entries[i].Open()
//	config, manifest, err := model.Build(entries, digests, model.BuildOptions{})
//
// Unpacking is Files on the manifest bytes, then for each File either
// writing the verified layer bytes to File.Path (raw layers) or ExtractTar
// (archive layers).
//
// # Layout
//
// One layer per file, uncompressed, media type
// application/vnd.cncf.model.<kind>.v1.raw with kind weight, weight.config,
// doc, code or dataset (see Classify). Each layer carries the annotations
// org.cncf.model.filepath (the slash-separated path from the root),
// org.cncf.model.file.metadata+json (FileMetadata) and
// org.opencontainers.image.title (the same path, so that `oras pull` also
// recreates the files). Files whose kind was guessed carry
// org.cncf.model.file.mediatype.untested "true". The config (media type
// application/vnd.cncf.model.config.v1+json) holds descriptor {name,
// version, family}, config {architecture, format, paramSize, precision,
// quantization} read from the weight headers and config.json, and modelfs
// {type "layers", diffIds = the layer digests}. The manifest is an OCI
// image manifest with artifactType application/vnd.cncf.model.manifest.v1+json.
//
// Datasets (ScanOptions.Dataset) use cairn's artifact type
// application/vnd.cairn.dataset.manifest.v1+json, the same config media
// type (with an empty config object) and kind dataset for every layer.
// Files smaller than ScanOptions.SmallFile (1 MiB) are grouped, in path
// order, into application/vnd.cncf.model.dataset.v1.tar layers of at most
// ScanOptions.GroupSize (256 MiB) and 10000 files, named
// cairn-group-NNNNN.tar in the filepath annotation. The tar stream of a
// group is deterministic: members in path order, regular files only (no
// directory entries: ExtractTar creates parents), uid and gid 0, no user
// or group names, mode 0644 or 0755, mtime at the Unix epoch, USTAR headers
// (GNU long-name records for names USTAR cannot hold, never PAX), and the
// two zero blocks of the end-of-archive marker with no further padding.
//
// # Invariants
//
//   - Determinism: the same directory content gives byte-identical layers,
//     config and manifest. Paths are sorted bytewise; modes are normalised to
//     0644/0755; times, owners and host names are never recorded; JSON is
//     written by encoding/json (fixed struct order, sorted map keys).
//   - What Scan accepts, Files accepts: both apply the same path checks
//     (checkPath), so a packed directory can always be pulled.
//   - Pulling never creates links or devices and never writes outside the
//     destination: Files and ExtractTar refuse absolute and escaping paths,
//     duplicates (letter case ignored) and paths under .cairn/, which holds
//     cairn's pull metadata; ExtractTar writes through os.Root.
//   - Every count or size an input controls has a named bound: MaxFiles,
//     MaxTarEntries, MaxPathLen, MaxNameLen, and the header limits of the
//     safetensors (100 MiB) and GGUF (256 MiB, 2^20 entries) readers.
//
// # Caveats
//
//   - A symlink to a regular file is packed as the file's content; the
//     link itself is not recorded (Entry.LinkTarget lets callers report it).
//     A file that changes between Scan and Open fails with ErrChanged when
//     its size differs; same-size changes show up as a digest mismatch at
//     push.
//   - Kinds come from file names, not content: a verifier must not trust a
//     layer's kind to decide whether to scan it.
//   - Layers compressed with zstd are refused (no zstd in the standard
//     library). Compressed archive layers can expand far beyond their size.
//   - Unicode normalisation is not considered when detecting duplicates
//     (NFC and NFD spellings of a name are different paths).
//   - Metadata extraction is best effort: unknown or malformed headers add
//     nothing to the config. Parameter counts below 1000 are written without
//     a scale prefix, which the spec's paramSize format cannot express.
package model
