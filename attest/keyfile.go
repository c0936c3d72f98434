package attest

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ExistsError is a key file that is already there: WriteKeyPair does not
// overwrite one unless told to. It wraps fs.ErrExist.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string { return e.Path + " already exists" }
func (e *ExistsError) Unwrap() error { return fs.ErrExist }

// KeyPairPaths names the files of the key pair with this prefix, as cosign
// and `cairn keygen` write them: PREFIX.key (private) and PREFIX.pub.
func KeyPairPaths(prefix string) (key, pub string) { return prefix + ".key", prefix + ".pub" }

// CheckKeyPairFree returns an *ExistsError when either file of the key
// pair with this prefix exists (a symlink counts), so that a caller can
// refuse before it asks for a password.
func CheckKeyPairFree(prefix string) error {
	keyPath, pubPath := KeyPairPaths(prefix)
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return &ExistsError{Path: p}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// WriteKeyPair writes key to PREFIX.key (mode 0600; encrypted with
// password unless it is empty, see MarshalPrivateKey) and its public key
// to PREFIX.pub (0644), each synced, with exactly those modes whatever the
// umask. Without force an existing file is an *ExistsError (O_EXCL: a
// file created meanwhile is not clobbered either); with force it is
// replaced. If the public key cannot be written the private key is
// removed: no half pair is left behind.
func WriteKeyPair(prefix string, key crypto.Signer, password []byte, force bool) error {
	priv, err := MarshalPrivateKey(key, password)
	if err != nil {
		return err
	}
	pub, err := MarshalPublicKey(key.Public())
	if err != nil {
		return err
	}
	keyPath, pubPath := KeyPairPaths(prefix)
	if err := writeKeyFile(keyPath, priv, 0o600, force); err != nil {
		return err
	}
	if err := writeKeyFile(pubPath, pub, 0o644, force); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}

func writeKeyFile(path string, data []byte, perm os.FileMode, force bool) error {
	if force {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return &ExistsError{Path: path}
	}
	if err != nil {
		return err
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadKeyFile reads a key file, refusing one larger than MaxKeySize
// before reading it all.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxKeySize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a key file", path, MaxKeySize)
	}
	return b, nil
}
