package oms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"cairn.dev/cairn/verify"
)

// file is a regular file found in a model.
type file struct {
	path string // slash path relative to the model, or "." for a single-file model
	size int64
}

// Serialize hashes the model at path, a directory or a single file, as s
// says (MethodFiles or MethodShards with HashSHA256), and returns its
// manifest with the resources in canonical order.
//
// A directory's regular files are its resources, at every depth and
// hidden ones included, except those at or under one of s.IgnorePaths
// (slash paths relative to the directory), which the manifest records
// sorted. Empty directories add nothing. A single file is the one resource
// ".", and ignore paths do not apply to it. The manifest's name is the last
// element of the absolute path.
//
// Everything is read through an os.Root on the model directory, so
// nothing outside it is hashed. A symlink is an error wrapping
// ErrUnsupportedFile unless s.AllowSymlinks is set; then it is hashed as
// the file it leads to, which must be a regular file inside the model
// (the reference implementation follows symlinks anywhere). Devices,
// FIFOs and sockets are errors wrapping ErrUnsupportedFile, more than
// MaxResources files or a path longer than MaxPathLength errors wrapping
// ErrTooMany, and a hash type other than sha256 an error wrapping
// ErrUnsupported.
func Serialize(ctx context.Context, path string, s Serialization, opts verify.HashOptions) (*Manifest, error) {
	s.Method, s.HashType = s.method(), s.hashType()
	switch s.Method {
	case MethodFiles:
		s.ShardSize = 0
	case MethodShards:
		if s.ShardSize < 1 || s.ShardSize > maxShardSize {
			return nil, fmt.Errorf("serialize %s: shard size %d outside 1..2^53", path, s.ShardSize)
		}
	default:
		return nil, fmt.Errorf("serialize %s: %w: serialization method %q", path, ErrUnsupported, s.Method)
	}
	if s.HashType != HashSHA256 {
		return nil, fmt.Errorf("serialize %s: %w: hash type %q (only %s is implemented)", path, ErrUnsupported, s.HashType, HashSHA256)
	}
	for _, p := range s.IgnorePaths {
		if !validPath(p) || p == "." {
			return nil, fmt.Errorf("serialize %s: ignore path %q is not a relative slash path inside the model", path, truncate(p))
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("serialize %s: %w", path, err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("serialize: %w", err)
	}
	m := &Manifest{Name: filepath.Base(abs), Serialization: s}
	var hashRoot string
	var files []file
	var hashPaths []string
	if fi.IsDir() {
		hashRoot = abs
		s.IgnorePaths = sortedUnique(s.IgnorePaths)
		m.Serialization.IgnorePaths = s.IgnorePaths
		if files, err = walk(ctx, abs, s); err != nil {
			return nil, err
		}
		hashPaths = make([]string, len(files))
		for i, f := range files {
			hashPaths[i] = f.path
		}
	} else {
		// A single file: hashed through a root on its directory, so that
		// an allowed symlink may not lead out of it either.
		m.Serialization.IgnorePaths = nil
		hashRoot = filepath.Dir(abs)
		base := filepath.Base(abs)
		r, err := os.OpenRoot(hashRoot)
		if err != nil {
			return nil, fmt.Errorf("serialize: %w", err)
		}
		err = checkEntry(r.FS(), base, fi.Mode(), s)
		var st fs.FileInfo
		if err == nil {
			st, err = r.Stat(base)
		}
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("serialize %s: %w", path, err)
		}
		files = []file{{path: ".", size: st.Size()}}
		hashPaths = []string{base}
	}

	algorithm := s.algorithm()
	if s.Method == MethodFiles {
		digests, err := verify.HashFiles(ctx, hashRoot, hashPaths, opts)
		if err != nil {
			return nil, fmt.Errorf("serialize %s: %w", path, err)
		}
		m.Resources = make([]Resource, len(files))
		for i, f := range files {
			m.Resources[i] = Resource{Name: f.path, Algorithm: algorithm, Digest: raw(digests[i].Encoded())}
		}
		return m, nil
	}

	var ranges []verify.Range
	var shards []shard
	for i, f := range files {
		for start := int64(0); start < f.size; start += s.ShardSize {
			end := min(start+s.ShardSize, f.size)
			ranges = append(ranges, verify.Range{Path: hashPaths[i], Offset: start, Length: end - start})
			shards = append(shards, shard{path: f.path, start: start, end: end})
		}
		if len(shards) > MaxResources {
			return nil, fmt.Errorf("serialize %s: %w: more than %d shards (use a larger shard size)", path, ErrTooMany, MaxResources)
		}
	}
	digests, err := verify.HashRanges(ctx, hashRoot, ranges, opts)
	if err != nil {
		return nil, fmt.Errorf("serialize %s: %w", path, err)
	}
	m.Resources = make([]Resource, len(shards))
	for i, sh := range shards {
		m.Resources[i] = Resource{Name: sh.name(), Algorithm: algorithm, Digest: raw(digests[i].Encoded())}
	}
	return m, nil
}

func raw(encoded string) []byte {
	b, _ := hex.DecodeString(encoded)
	return b
}

// walk lists the regular files under dir that s does not ignore, sorted
// by ComparePaths.
func walk(ctx context.Context, dir string, s Serialization) ([]file, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serialize: %w", err)
	}
	defer r.Close()
	fsys := r.FS()
	var files []file
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if ignored(p, s.IgnorePaths) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if err := checkEntry(fsys, p, d.Type(), s); err != nil {
			return err
		}
		fi, err := fs.Stat(fsys, p)
		if err != nil {
			return err
		}
		if len(files) == MaxResources {
			return fmt.Errorf("%w: more than %d files", ErrTooMany, MaxResources)
		}
		files = append(files, file{path: p, size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("serialize %s: %w", dir, err)
	}
	slices.SortFunc(files, func(a, b file) int { return ComparePaths(a.path, b.path) })
	return files, nil
}

// checkEntry checks that the entry p of fsys, of type t (from Lstat), is
// one Serialize hashes: a regular file, or with s.AllowSymlinks a symlink
// to a regular file inside fsys.
func checkEntry(fsys fs.FS, p string, t fs.FileMode, s Serialization) error {
	unsupported := func(why string) error {
		return &fs.PathError{Op: "serialize", Path: p, Err: fmt.Errorf("%w: %s", ErrUnsupportedFile, why)}
	}
	if len(p) > MaxPathLength {
		return &fs.PathError{Op: "serialize", Path: truncate(p), Err: fmt.Errorf("%w: a path of %d bytes, longer than %d", ErrTooMany, len(p), MaxPathLength)}
	}
	if !utf8.ValidString(p) {
		return unsupported("its name is not UTF-8")
	}
	switch {
	case t.IsRegular():
		return nil
	case t&fs.ModeSymlink != 0:
		if !s.AllowSymlinks {
			return unsupported("a symlink, and the serialization does not allow symlinks")
		}
		fi, err := fs.Stat(fsys, p)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return unsupported("a symlink that leads out of the model or nowhere (" + err.Error() + ")")
		}
		if !fi.Mode().IsRegular() {
			return unsupported("a symlink to a directory or special file")
		}
		return nil
	default:
		return unsupported("not a regular file (" + t.Type().String() + ")")
	}
}

// ignored reports whether p is one of ignore or under one.
func ignored(p string, ignore []string) bool {
	for _, ip := range ignore {
		if p == ip || (strings.HasPrefix(p, ip) && p[len(ip)] == '/') {
			return true
		}
	}
	return false
}
