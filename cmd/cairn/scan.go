package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/verify/scan"
)

func newScanCmd() *cobra.Command {
	var asJSON, allowUnscanned bool
	cmd := &cobra.Command{
		Use:   "scan PATH...",
		Short: "Check weight files for code that would run when they are loaded",
		Long: `Scan files and directories and say, for each file, its format and a
verdict: safe, unsafe or not scanned. Formats are told by content, not by
name:

  pickle        every stacked stream, opcode by opcode; imports must be on an
                allow-list of tensor-rebuild globals (PyTorch, NumPy)
  pytorch       zip archives (data.pkl and every other .pkl; TorchScript code
                is a warning), legacy torch.save files
  numpy         .npy headers; object arrays, whose data np.load unpickles, have
                their pickle scanned; .npz archives member by member
  safetensors   header rules: size limit, dtypes, shapes, offsets that cover
                the data with no hole, overlap or trailing bytes
  gguf          header sanity: version, counts, lengths, types, alignment
  keras         .keras archives: Lambda layers, modules outside Keras
  joblib        pickles written by joblib (its array wrapper, its old
                compressed header); arrays it stores inline are not scanned
  json, text    plainly data: one valid JSON document, or UTF-8 text without
                control characters (after the pickle checks: a protocol 0
                pickle is ASCII)
  archive       a tar or zip of several members, each scanned by content;
                its verdict is the worst of its members'
  unknown       anything else (an unrecognised binary, HDF5, 7z): not scanned

Compressed streams (gzip, zlib as joblib writes it, bz2, xz, lzma, zstd),
tar and zip archives are opened, nested, whatever the file is called, and
what is inside is scanned; the report names them as wrappers ("pickle in
gzip"). Decompression is bounded (a total size, a ratio, a nesting depth):
a file that reaches a limit is unsafe. Zip archives with encrypted entries,
odd flag bits, local headers that disagree with the central directory,
duplicate names or offsets beyond the file are unsafe. Nothing is unpickled,
imported or executed.

Verdicts: safe is a data-only format proved safe (safetensors, GGUF, a .npy
without objects, a pickle that imports only allow-listed globals...) or
plainly data (JSON, text); unsafe means loading it can run code, or it is
malformed in a way its reader refuses; not scanned is content the scanner
cannot judge (an unknown binary, HDF5, 7z, a joblib array stored inline,
large content inside a compressed stream that needs random access).

Directories are walked. A symlink inside a directory is scanned when it leads
to a file inside that directory; a link that leaves it is not followed and is
reported as not scanned. A PATH named on the command line is followed even if
it is a link, so the files of a Hugging Face snapshot can be named one by one.

Exit status: 0 every file is safe; 1 a file is unsafe (its findings say why:
the global imported, the entry refused, the header rule broken), or a file
was not scanned, which is not proved safe (with --allow-unscanned, files not
scanned do not change the status); 2 a file could not be read (unreadable,
not a regular file, a link out of PATH) and none is unsafe.`,
		Example: `  cairn scan ./llama-8b
  cairn scan model.safetensors pytorch_model.bin
  cairn scan --json ./models > scan.json
  cairn scan ~/.cache/huggingface/hub/models--org--name/snapshots/*/*`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, args, asJSON, allowUnscanned)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the reports as JSON")
	cmd.Flags().BoolVar(&allowUnscanned, "allow-unscanned", false, "exit 0 when no file is unsafe, even if some were not scanned")
	return cmd
}

// scanResult is one file of `cairn scan`.
type scanResult struct {
	Path     string   `json:"path"`
	Format   string   `json:"format,omitempty"`
	Variant  string   `json:"variant,omitempty"`
	Wrappers []string `json:"wrappers,omitempty"`
	// Verdict is safe, unsafe or not scanned; empty when the file could
	// not be read (Error).
	Verdict scan.Verdict `json:"verdict,omitempty"`
	// Safe is Verdict == safe.
	Safe     bool           `json:"safe"`
	Findings []scan.Finding `json:"findings,omitempty"`
	// Error says why the file was not scanned.
	Error string `json:"error,omitempty"`

	file string // what to open
}

// scanOutput is the --json document.
type scanOutput struct {
	Files      []scanResult `json:"files"`
	Safe       int          `json:"safe"`
	Unsafe     int          `json:"unsafe"`
	NotScanned int          `json:"not_scanned"`
	// Errors counts the files that could not be read.
	Errors int `json:"errors"`
}

func runScan(cmd *cobra.Command, args []string, asJSON, allowUnscanned bool) error {
	var files []scanResult
	for _, arg := range args {
		files = append(files, scanTargets(arg)...)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(files), 1)) {
		wg.Go(func() {
			for i := range work {
				f := &files[i]
				rep, err := scan.File(cmd.Context(), f.file)
				if err != nil {
					f.Error = err.Error()
					continue
				}
				f.Format, f.Variant, f.Wrappers, f.Verdict, f.Safe, f.Findings = rep.Format, rep.Variant, rep.Wrappers, rep.Verdict, rep.Safe(), rep.Findings
			}
		})
	}
	for i := range files {
		if files[i].Error == "" {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	if err := cmd.Context().Err(); err != nil {
		return err
	}

	out := scanOutput{Files: files}
	for _, f := range files {
		switch {
		case f.Error != "":
			out.Errors++
		case f.Verdict == scan.VerdictSafe:
			out.Safe++
		case f.Verdict == scan.VerdictNotScanned:
			out.NotScanned++
		default:
			out.Unsafe++
		}
	}
	w := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printScan(w, out)
	}
	switch {
	case out.Unsafe > 0:
		return refused(fmt.Errorf("%d of %d files unsafe", out.Unsafe, len(files)))
	case out.Errors > 0:
		return fmt.Errorf("%d of %d files could not be read", out.Errors, len(files))
	case out.NotScanned > 0 && !allowUnscanned:
		return refused(fmt.Errorf("%d of %d files not scanned, so not proved safe (--allow-unscanned accepts them)", out.NotScanned, len(files)))
	}
	return nil
}

// scanTargets lists the files to scan for one PATH argument: the file
// itself, or the files under the directory, with the links and special
// files that are not scanned and why.
func scanTargets(arg string) []scanResult {
	fi, err := os.Stat(arg)
	if err != nil {
		return []scanResult{{Path: arg, Error: err.Error()}}
	}
	if !fi.IsDir() {
		r := scanResult{Path: arg, file: arg}
		if !fi.Mode().IsRegular() {
			r.Error = "not a regular file (" + fi.Mode().Type().String() + ")"
		}
		return []scanResult{r}
	}
	root, err := filepath.EvalSymlinks(arg)
	if err != nil {
		return []scanResult{{Path: arg, Error: err.Error()}}
	}
	var out []scanResult
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		shown := filepath.Join(arg, rel)
		if err != nil {
			out = append(out, scanResult{Path: shown, Error: err.Error()})
			if d != nil && d.IsDir() && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
		case t.IsRegular():
			out = append(out, scanResult{Path: shown, file: p})
		case t&fs.ModeSymlink != 0:
			if r, ok := linkTarget(root, p, shown); ok {
				out = append(out, r)
			}
		default:
			out = append(out, scanResult{Path: shown, Error: "not a regular file (" + t.String() + ")"})
		}
		return nil
	})
	if err != nil {
		out = append(out, scanResult{Path: arg, Error: err.Error()})
	}
	return out
}

// linkTarget decides about a symlink found under root: a link to a file
// inside root is scanned; a link to a directory inside root is left out
// (the walk reaches that directory itself); anything else is not scanned.
func linkTarget(root, p, shown string) (scanResult, bool) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		target, _ := os.Readlink(p)
		return scanResult{Path: shown, Error: fmt.Sprintf("symlink to %q does not resolve: not scanned", target)}, true
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return scanResult{Path: shown, Error: fmt.Sprintf("symlink to %s, outside %s: not followed", real, root)}, true
	}
	fi, err := os.Stat(real)
	switch {
	case err != nil:
		return scanResult{Path: shown, Error: err.Error()}, true
	case fi.IsDir():
		return scanResult{}, false
	case !fi.Mode().IsRegular():
		return scanResult{Path: shown, Error: "symlink to a special file: not scanned"}, true
	}
	return scanResult{Path: shown, file: real}, true
}

// printScan writes one line per file (format, verdict, path) and its
// warnings, not scanned and unsafe findings under it, then a total.
func printScan(w io.Writer, out scanOutput) {
	width := len("FORMAT")
	format := func(f scanResult) string {
		s := f.Format
		switch {
		case f.Error != "":
			return "-"
		case f.Variant != "" && f.Variant != f.Format:
			s += "/" + f.Variant
		}
		if len(f.Wrappers) > 0 {
			s += " in " + strings.Join(f.Wrappers, ">")
		}
		return s
	}
	for _, f := range out.Files {
		width = max(width, len(format(f)))
	}
	const vw = len(scan.VerdictNotScanned)
	fmt.Fprintf(w, "%-*s  %-*s  %s\n", width, "FORMAT", vw, "VERDICT", "PATH")
	for _, f := range out.Files {
		verdict := string(f.Verdict)
		if f.Error != "" {
			verdict = "error"
		}
		fmt.Fprintf(w, "%-*s  %-*s  %s\n", width, format(f), vw, verdict, f.Path)
		if f.Error != "" {
			fmt.Fprintf(w, "    %s\n", f.Error)
		}
		for _, x := range f.Findings {
			if x.Severity != scan.Info {
				fmt.Fprintf(w, "    %s\n", x)
			}
		}
	}
	fmt.Fprintf(w, "%d files: %d safe, %d unsafe, %d not scanned", len(out.Files), out.Safe, out.Unsafe, out.NotScanned)
	if out.Errors > 0 {
		fmt.Fprintf(w, ", %d could not be read", out.Errors)
	}
	fmt.Fprintln(w)
}
