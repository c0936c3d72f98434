package oms

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cairn.dev/cairn/verify"
)

// ErrNotInModel is returned, wrapped, for an ignore path that lies
// neither inside the model directory nor, taken relative to it, within it.
var ErrNotInModel = errors.New("not inside the model directory")

// Model is a model on disk, as signed and verified: a directory, or a
// single file.
type Model struct {
	// Path is absolute. A directory given through a symlink is resolved
	// (the model is what it leads to); a file is left as given, so that a
	// symlinked file is refused as the reference implementation refuses it.
	Path  string
	IsDir bool
}

// Locate returns the model at path.
func Locate(path string) (Model, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Model{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Model{}, err
	}
	if !fi.IsDir() {
		return Model{Path: abs}, nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return Model{}, err
	}
	return Model{Path: real, IsDir: true}, nil
}

// SignaturePath is where model.sig goes by default: in the model
// directory, or beside a single-file model (the reference writes
// ./model.sig in the working directory; its test vectors keep it beside
// the file).
func (m Model) SignaturePath() string {
	if m.IsDir {
		return filepath.Join(m.Path, SignatureFile)
	}
	return filepath.Join(filepath.Dir(m.Path), SignatureFile)
}

// Ignores turns ignore paths as a user gives them into slash paths
// relative to the model directory, plus the signature file when it lies
// inside the model; a single-file model ignores nothing. As with the
// reference implementation, a path is first taken relative to the working
// directory (or as absolute) and used if it lands inside the model;
// unlike it, one that does not is then taken relative to the model
// directory, and one that escapes both is an error (wrapping
// ErrNotInModel) rather than silently ignored.
func (m Model) Ignores(paths []string, signature string) ([]string, error) {
	if !m.IsDir {
		return nil, nil
	}
	var out []string
	for _, p := range paths {
		if rel, ok := within(m.Path, p); ok {
			out = append(out, rel)
			continue
		}
		if !filepath.IsAbs(p) {
			rel := filepath.ToSlash(filepath.Clean(p))
			if rel != "." && fs.ValidPath(rel) {
				out = append(out, rel)
				continue
			}
		}
		return nil, fmt.Errorf("%s: %w %s", p, ErrNotInModel, m.Path)
	}
	if rel, ok := within(m.Path, signature); ok {
		out = append(out, rel)
	}
	return out, nil
}

// within returns p's slash path relative to dir when p lies inside dir.
func within(dir, p string) (string, bool) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", false
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if real, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(real, filepath.Base(abs))
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// ReadSignature reads a model.sig file, refusing one larger than
// verify.MaxBundleSize (ErrMalformed, a refusal) without reading it all.
func ReadSignature(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, verify.MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > verify.MaxBundleSize {
		return nil, fmt.Errorf("%s: %w: larger than the %d-byte limit for a signature", path, ErrMalformed, verify.MaxBundleSize)
	}
	return b, nil
}

// ParseCertificates reads the PEM certificates of b (a CA file, a signing
// certificate and its chain): at least one. Blocks of other types are
// skipped.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}
