package scan

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"path"
	"strings"
)

// tarErr marks the errors of archive/tar, which are read errors of the
// archive itself.
var tarErr = errors.New("tar")

// torchTarMembers are the members of the tar checkpoints torch.save
// wrote before its stacked-pickle format; torch.load still reads them
// (torch/serialization.py, legacy_load).
var torchTarMembers = []string{"sys_info", "pickle", "storages", "tensors"}

// tar scans a tar archive read from r, depth levels down: every regular
// member by content, as a stream. A tar with the members of a torch.save
// checkpoint is FormatPyTorch, Variant "tar"; a tar of one member is that
// member inside "tar"; any other is FormatArchive.
func (s *scanner) tar(r io.Reader, entry string, depth int) content {
	if depth >= MaxNesting {
		s.add(Unsafe, "archive.nesting", entry, -1, "an archive nested more than %d deep (MaxNesting): not scanned", MaxNesting)
		return content{format: FormatArchive, variant: "tar"}
	}
	tr := tar.NewReader(r)
	seen := map[string]bool{}
	var files []content
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.contentErr(tarError(err), entry)
			break
		}
		if n >= MaxTarMembers {
			s.add(Unsafe, "tar.limit", entry, -1, "more than %d members (MaxTarMembers)", MaxTarMembers)
			break
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		me := join(entry, name)
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if why := nameProblem(name); why != "" {
			s.add(Unsafe, "tar.name", me, -1, "%s", why)
			files = append(files, content{format: FormatUnknown})
			continue
		}
		if seen[name] {
			// tarfile's getmember and extraction take the last one.
			s.add(Unsafe, "tar.name", me, -1, "the name appears twice: readers disagree on which member counts")
			files = append(files, content{format: FormatUnknown})
			continue
		}
		seen[name] = true
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeGNUSparse:
			sparse(s, me)
			files = append(files, content{format: FormatUnknown})
			continue
		case tar.TypeReg, '\x00':
			if isSparse(h) {
				sparse(s, me)
				files = append(files, content{format: FormatUnknown})
				continue
			}
		case tar.TypeSymlink, tar.TypeLink:
			s.add(NotScanned, "tar.link", me, -1, "a link to %q: what a reader finds there is not scanned as this member", h.Linkname)
			files = append(files, content{format: FormatUnknown})
			continue
		default:
			s.add(NotScanned, "tar.type", me, -1, "a member of type %q (not a regular file): not scanned", string(h.Typeflag))
			files = append(files, content{format: FormatUnknown})
			continue
		}
		br := bufio.NewReaderSize(tarReader{tr}, bufSizeWrapped)
		b, _ := br.Peek(1)
		switch proto := len(b) == 1 && b[0] == opProto; {
		case proto && (name == "storages" || name == "tensors"):
			s.torchTarData(br, name, me)
			files = append(files, content{format: FormatPyTorch})
			continue
		case proto && name == "pickle":
			// torch.load unpickles it with its persistent_load.
			res, err := s.pickle(br, me, pickleOpts{torch: true})
			s.contentErr(err, me)
			files = append(files, content{format: res.format()})
			continue
		}
		files = append(files, s.stream(br, h.Size, path.Base(name), me, depth+1))
	}
	switch {
	case isTorchTar(seen):
		return content{format: FormatPyTorch, variant: "tar"}
	case len(files) == 1:
		return files[0].in("tar")
	}
	return content{format: FormatArchive, variant: "tar"}
}

// sparse records a sparse member: archive/tar makes up its holes, so a
// few bytes of archive can read as exabytes of zeros, and no loader of
// weights writes one.
func sparse(s *scanner, entry string) {
	s.add(NotScanned, "tar.type", entry, -1, "a sparse member: not scanned")
}

// isSparse reports whether a PAX header makes the member sparse.
func isSparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func isTorchTar(seen map[string]bool) bool {
	for _, m := range torchTarMembers {
		if !seen[m] {
			return false
		}
	}
	return true
}

// tarReader marks the read errors of a member as the archive's.
type tarReader struct{ tr *tar.Reader }

func (t tarReader) Read(p []byte) (int, error) {
	n, err := t.tr.Read(p)
	if err != nil && err != io.EOF {
		err = tarError(err)
	}
	return n, err
}

// tarError marks err as an error of the tar archive, unless it is an
// error of the stream under it (a compressed stream, the file).
func tarError(err error) error {
	var we *wrapError
	if errors.As(err, &we) || err == io.ErrUnexpectedEOF {
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("%w: truncated: %w", tarErr, err)
		}
		return err
	}
	return fmt.Errorf("%w: %w", tarErr, err)
}

// torchTarData scans the storages or tensors member of a torch.save tar
// checkpoint: pickles, each followed by raw data whose size the pickle
// and the bytes after it give. In storages: a count, then for each
// storage a pickle (key, location, storage type) followed by an 8-byte
// element count and the elements, then a pickle of the storage views. In
// tensors: a count, then for each tensor a pickle (key, storage id,
// tensor type) followed by ndim (4 bytes), 4 bytes, ndim sizes, ndim
// strides and an offset (8 bytes each). A pickle that names a storage or
// tensor type is the one followed by data.
func (s *scanner) torchTarData(br *bufio.Reader, member, entry string) {
	var off int64
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err == io.EOF {
			if i == 0 {
				s.add(Unsafe, "torch.format", entry, -1, "the %s member is empty", member)
			}
			return
		} else if err != nil {
			s.contentErr(err, entry)
			return
		}
		if i >= MaxPickleStreams*MaxPickleStreams {
			s.add(Unsafe, "pickle.limit", entry, off, "more than %d pickles in the %s member", MaxPickleStreams*MaxPickleStreams, member)
			return
		}
		res, err := s.pickle(br, entry, pickleOpts{torch: true, torchTar: true, streams: 1, base: off})
		if err != nil {
			s.contentErr(err, entry)
			return
		}
		if s.has(Unsafe) || !res.clean {
			return // the stream did not parse: what follows cannot be placed
		}
		off += res.read
		var skip uint64
		switch {
		case member == "storages" && storageSizes[res.last] > 0:
			b := make([]byte, 8)
			if _, err := io.ReadFull(br, b); err != nil {
				s.add(Unsafe, "torch.format", entry, off, "the storage data ends before its size")
				return
			}
			off += 8
			hi, lo := bits.Mul64(binary.LittleEndian.Uint64(b), storageSizes[res.last])
			if hi != 0 || lo > 1<<62 {
				s.add(Unsafe, "torch.format", entry, off, "a storage of %d elements of %s: too large", binary.LittleEndian.Uint64(b), res.last)
				return
			}
			skip = lo
		case member == "tensors" && legacyTensorTypes[res.last]:
			b := make([]byte, 8)
			if _, err := io.ReadFull(br, b); err != nil {
				s.add(Unsafe, "torch.format", entry, off, "the tensor data ends before its dimensions")
				return
			}
			off += 8
			ndim := int32(binary.LittleEndian.Uint32(b))
			if ndim < 0 || ndim > 1<<10 {
				s.add(Unsafe, "torch.format", entry, off-8, "a tensor of %d dimensions", ndim)
				return
			}
			skip = uint64(ndim)*16 + 8
		case res.last != "":
			s.add(Unsafe, "torch.format", entry, off, "a pickle of the %s member names %s, which is no %s type", member, res.last, strings.TrimSuffix(member, "s"))
			return
		}
		for skip > 0 {
			n, err := br.Discard(int(min(skip, 1<<30)))
			skip -= uint64(n)
			off += int64(n)
			if err != nil {
				s.add(Unsafe, "torch.format", entry, off, "the %s data is cut short", member)
				return
			}
		}
	}
}
