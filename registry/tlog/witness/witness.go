package witness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"cairn.dev/cairn/registry/internal/atomicfile"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"cairn.dev/cairn/verify/tlogproof"
)

// Key is a witness's Ed25519 key as a cosignature/v1 signer, with the
// verifier key ("<name>+<hash>+<base64>", algorithm 0x04) that logs and
// client policies list.
type Key struct {
	*fnote.Signer
	verifier string
}

// VerifierKey returns the cosignature/v1 verifier key of k.
func (k *Key) VerifierKey() string { return k.verifier }

// LoadOrCreateKey reads the witness's key at path (a note signer key, as
// note.GenerateKey writes it) or, when there is none, creates one named
// name and writes it with mode 0600. created reports which happened.
func LoadOrCreateKey(path, name string) (k *Key, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, _, gerr := note.GenerateKey(rand.Reader, name)
		if gerr != nil {
			return nil, false, fmt.Errorf("witness: create key %q: %w", name, gerr)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKey(path, name) // another start won
		} else if err != nil {
			return nil, false, err
		}
		_, err = f.WriteString(skey + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, false, err
		}
		b, created = []byte(skey), true
	} else if err != nil {
		return nil, false, err
	}
	k, err = ParseKey(string(b))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return k, created, nil
}

// ParseKey reads a witness key as note.GenerateKey writes it
// ("PRIVATE+KEY+<name>+<hash>+<base64>", Ed25519).
func ParseKey(skey string) (*Key, error) {
	skey = strings.TrimSpace(skey)
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witness: key: %w", err)
	}
	// The verifier key is derived from the seed: PRIVATE+KEY+<name>+<hash>+<base64>.
	f := strings.SplitN(skey, "+", 5)
	seed, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(seed) != 1+ed25519.SeedSize || (seed[0] != 1 && seed[0] != 4) {
		return nil, errors.New("witness: key: not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("witness: key: %w", err)
	}
	if vkey, err = fnote.VKeyToCosignatureV1(vkey); err != nil {
		return nil, fmt.Errorf("witness: key: %w", err)
	}
	return &Key{Signer: s, verifier: vkey}, nil
}

// Config configures a Witness. Dir, Key and Logs are required.
type Config struct {
	// Dir holds the last cosigned checkpoint of each log.
	Dir string
	// Key cosigns.
	Key *Key
	// Logs are the verifier keys of the logs the witness cosigns for; a
	// checkpoint's origin must be one of their names. Several keys of one
	// origin are allowed (a rotation).
	Logs []string
	// Logger receives refusals; nil means slog.Default().
	Logger *slog.Logger
}

// Witness cosigns the checkpoints of the logs it knows, each consistent
// with the last it cosigned for that log.
type Witness struct {
	dir    string
	key    *Key
	logs   map[string][]string // origin -> verifier keys
	logger *slog.Logger

	mu sync.Mutex // one add-checkpoint at a time: check, store, sign
}

// New returns a Witness for cfg.
func New(cfg Config) (*Witness, error) {
	if cfg.Dir == "" || cfg.Key == nil || len(cfg.Logs) == 0 {
		return nil, errors.New("witness: Config.Dir, Config.Key and Config.Logs are required")
	}
	w := &Witness{dir: cfg.Dir, key: cfg.Key, logs: map[string][]string{}, logger: cfg.Logger}
	if w.logger == nil {
		w.logger = slog.Default()
	}
	for _, k := range cfg.Logs {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("witness: log key %q: %w", k, err)
		}
		w.logs[v.Name()] = append(w.logs[v.Name()], k)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	return w, nil
}

// file is where the last cosigned checkpoint of origin is kept.
func (w *Witness) file(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(w.dir, hex.EncodeToString(h[:])+".checkpoint")
}

// Latest returns the last checkpoint cosigned for origin; ok is false
// when none was.
func (w *Witness) Latest(origin string) (cp tlogproof.Checkpoint, ok bool, err error) {
	b, err := os.ReadFile(w.file(origin))
	if errors.Is(err, fs.ErrNotExist) {
		return tlogproof.Checkpoint{Origin: origin}, false, nil
	}
	if err != nil {
		return tlogproof.Checkpoint{}, false, err
	}
	cp, err = tlogproof.ParseCheckpoint(b)
	return cp, err == nil, err
}

// AddCheckpoint checks req as C2SP tlog-witness asks and, when the
// checkpoint extends the last one cosigned for its log, stores it and
// returns the cosignature line. A refusal wraps ErrBadRequest,
// ErrUnknownLog, ErrSignature, ErrConflict (a *ConflictError) or ErrProof,
// and changes nothing on disk.
func (w *Witness) AddCheckpoint(req Request) ([]byte, error) {
	if len(req.Checkpoint) > tlogproof.MaxCheckpointSize {
		return nil, fmt.Errorf("%w: a checkpoint of %d bytes", ErrBadRequest, len(req.Checkpoint))
	}
	// The origin is the first line; the log's key for it must have signed.
	origin, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	keys, ok := w.logs[string(origin)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLog, origin)
	}
	var (
		cp   tlogproof.Checkpoint
		text string
		err  error
	)
	for _, k := range keys {
		if cp, err = tlogproof.OpenCheckpoint(req.Checkpoint, k, tlogproof.Witnesses{}); err == nil {
			n, _ := note.Open(req.Checkpoint, note.VerifierList(mustVerifier(k)))
			text = n.Text
			break
		}
	}
	if err != nil {
		if errors.Is(err, tlogproof.ErrMalformed) {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if req.OldSize > cp.N {
		return nil, fmt.Errorf("%w: old size %d above the checkpoint's %d", ErrBadRequest, req.OldSize, cp.N)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	last, seen, err := w.Latest(cp.Origin)
	if err != nil {
		return nil, err
	}
	if req.OldSize != last.N {
		return nil, &ConflictError{Size: last.N}
	}
	if req.OldSize == 0 && len(req.Proof) > 0 {
		return nil, fmt.Errorf("%w: a proof from the empty tree", ErrBadRequest)
	}
	if seen && cp.N == last.N && cp.Hash != last.Hash {
		w.logger.Warn("witness: refused a checkpoint of the size cosigned with another root", "origin", cp.Origin, "size", cp.N)
		return nil, &ConflictError{Size: last.N, SameSize: true}
	}
	if seen {
		if err := tlogproof.Extends(last, cp, req.Proof); err != nil {
			w.logger.Warn("witness: refused an inconsistent checkpoint", "origin", cp.Origin, "size", cp.N, "cosigned", last.N, "err", err)
			return nil, fmt.Errorf("%w: %v", ErrProof, err)
		}
	}
	if !seen || cp.N > last.N {
		if err := atomicfile.Write(w.file(cp.Origin), cp.Text()); err != nil {
			return nil, err
		}
	}
	signed, err := note.Sign(&note.Note{Text: text}, w.key)
	if err != nil {
		return nil, err
	}
	// The signed note is the text, an empty line, and our signature line.
	return signed[len(text)+1:], nil
}

func mustVerifier(k string) note.Verifier {
	v, err := note.NewVerifier(k)
	if err != nil {
		panic("witness: a log key that parsed once: " + err.Error())
	}
	return v
}

// ServeHTTP answers POST .../add-checkpoint.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/add-checkpoint") {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", "POST")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestSize+1))
	if err != nil {
		http.Error(rw, "reading the request", http.StatusBadRequest)
		return
	}
	req, err := ParseRequest(body)
	var cosig []byte
	if err == nil {
		cosig, err = w.AddCheckpoint(req)
	}
	var ce *ConflictError
	switch {
	case err == nil:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(cosig)
	case errors.As(err, &ce) && !ce.SameSize:
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", ce.Size)
	case errors.Is(err, ErrConflict):
		http.Error(rw, err.Error(), http.StatusConflict)
	case errors.Is(err, ErrBadRequest):
		http.Error(rw, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrUnknownLog):
		http.Error(rw, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrSignature):
		http.Error(rw, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrProof):
		http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
	default:
		w.logger.Error("witness: add-checkpoint", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	}
}
