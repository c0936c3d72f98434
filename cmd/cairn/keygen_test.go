package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/term"

	"cairn.dev/cairn/attest"
)

// loadPair loads PREFIX.key with password and PREFIX.pub, checks their
// modes, and signs and verifies a message with the pair.
func loadPair(t *testing.T, prefix string, password []byte) crypto.Signer {
	t.Helper()
	for path, want := range map[string]os.FileMode{prefix + ".key": 0o600, prefix + ".pub": 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	privPEM, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := attest.LoadPrivateKey(privPEM, password)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attest.LoadPublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("public key is %T, want ECDSA", pub)
	}
	digest := sha256.Sum256([]byte("model manifest digest"))
	sig, err := priv.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(ecPub, digest[:], sig) {
		t.Fatal("signature by PREFIX.key does not verify with PREFIX.pub")
	}
	return priv
}

func TestKeygen(t *testing.T) {
	for _, tc := range []struct {
		name      string
		password  string
		encrypted bool
	}{
		{"with password", "hunter2", true},
		{"empty password", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(passwordEnv, tc.password)
			prefix := filepath.Join(t.TempDir(), "release")
			code, out := runCLI(t, "keygen", "--out", prefix)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, out)
			}
			if !strings.Contains(out, "Public key written to "+prefix+".pub") {
				t.Errorf("output: %s", out)
			}
			if warned := strings.Contains(out, "warning: empty password"); warned == tc.encrypted {
				t.Errorf("warning shown: %v, want %v; output: %s", warned, !tc.encrypted, out)
			}
			priv, err := os.ReadFile(prefix + ".key")
			if err != nil {
				t.Fatal(err)
			}
			wantType := "-----BEGIN PRIVATE KEY-----"
			if tc.encrypted {
				wantType = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
			}
			if !strings.HasPrefix(string(priv), wantType) {
				t.Fatalf("key file starts %q, want %q", strings.SplitN(string(priv), "\n", 2)[0], wantType)
			}
			loadPair(t, prefix, []byte(tc.password))
			if tc.encrypted {
				if _, err := attest.LoadPrivateKey(priv, []byte("wrong")); !errors.Is(err, attest.ErrWrongPassword) {
					t.Fatalf("wrong password: %v", err)
				}
			}
		})
	}
}

func TestKeygen_Overwrite(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	dir := t.TempDir()
	prefix := filepath.Join(dir, "cairn")
	if code, out := runCLI(t, "keygen", "--out", prefix); code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	first, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, "keygen", "--out", prefix)
	if code != exitError || !strings.Contains(out, "already exists") || !strings.Contains(out, "--force") {
		t.Fatalf("second keygen: exit %d: %s", code, out)
	}
	if again, _ := os.ReadFile(prefix + ".key"); string(again) != string(first) {
		t.Fatal("refused keygen changed the key file")
	}

	// Only the .pub existing is refused too, and nothing is written.
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other+".pub", []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "keygen", "--out", other); code != exitError || !strings.Contains(out, "already exists") {
		t.Fatalf("keygen over an existing .pub: exit %d: %s", code, out)
	}
	if _, err := os.Stat(other + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused keygen left %s.key: %v", other, err)
	}

	// --force replaces both, with the right modes even over a loose file.
	if err := os.Chmod(prefix+".key", 0o666); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "keygen", "--out", prefix, "--force"); code != exitOK {
		t.Fatalf("keygen --force: exit %d: %s", code, out)
	}
	if again, _ := os.ReadFile(prefix + ".key"); string(again) == string(first) {
		t.Fatal("--force did not replace the key")
	}
	loadPair(t, prefix, []byte("pw"))
}

func TestKeygen_NoPasswordNoTerminal(t *testing.T) {
	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Skip("stdin is a terminal: keygen would prompt")
	}
	t.Setenv(passwordEnv, "") // restored after the test
	os.Unsetenv(passwordEnv)
	prefix := filepath.Join(t.TempDir(), "cairn")
	code, out := runCLI(t, "keygen", "--out", prefix)
	if code != exitError || !strings.Contains(out, passwordEnv) {
		t.Fatalf("exit %d: %s", code, out)
	}
	if _, err := os.Stat(prefix + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key written without a password: %v", err)
	}
}
