package attest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"golang.org/x/crypto/nacl/secretbox"

	"cairn.dev/cairn/verify"
)

// MaxKeySize is the largest PEM input, in bytes, that LoadPrivateKey and
// LoadPublicKey accept. Real keys are well under 8 KiB (a 4096-bit RSA key
// in PEM is about 3.3 KiB); the limit keeps a wrong file from being parsed.
const MaxKeySize = 64 << 10

// MaxPBKDF2Iterations is the largest PBKDF2 iteration count LoadPrivateKey
// runs for an encrypted PKCS#8 key, so that a crafted key file cannot make
// it compute for minutes. Keys written by MarshalPrivateKey use
// PBKDF2Iterations; OpenSSL's default is 2048.
const MaxPBKDF2Iterations = 10_000_000

// PBKDF2Iterations is the PBKDF2-HMAC-SHA256 iteration count with which
// MarshalPrivateKey encrypts keys (OWASP's 2023 recommendation).
const PBKDF2Iterations = 600_000

// PEM block types read and written by this package. The cosign types hold
// the JSON of go-securesystemslib's encrypted package (scrypt and NaCl
// secretbox) around a PKCS#8 DER key, as `cosign generate-key-pair` writes.
const (
	pemPrivateKey          = "PRIVATE KEY"
	pemEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
	pemECPrivateKey        = "EC PRIVATE KEY"
	pemRSAPrivateKey       = "RSA PRIVATE KEY"
	pemPublicKey           = "PUBLIC KEY"
	pemSigstorePrivateKey  = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemCosignPrivateKey    = "ENCRYPTED COSIGN PRIVATE KEY"
)

// minRSABits is the smallest RSA modulus accepted for signing keys.
const minRSABits = 2048

// GenerateKey returns a new ECDSA P-256 private key, the kind
// `cosign generate-key-pair` makes.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// MarshalPrivateKey encodes key as PEM. With a non-empty password the result
// is a PKCS#8 EncryptedPrivateKeyInfo ("ENCRYPTED PRIVATE KEY", RFC 5958)
// using PBES2 (RFC 8018) with PBKDF2-HMAC-SHA256 (PBKDF2Iterations rounds,
// 16-byte salt) and AES-256-CBC, which OpenSSL reads
// (`openssl pkcs8 -in KEY -passin pass:...`). With an empty password it is
// a plain, unencrypted PKCS#8 "PRIVATE KEY".
func MarshalPrivateKey(key crypto.Signer, password []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	if len(password) == 0 {
		return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
	}
	enc, err := encryptPKCS8(der, password)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedPrivateKey, Bytes: enc}), nil
}

// MarshalPublicKey encodes pub as a PKIX "PUBLIC KEY" PEM block, the format
// of cosign.pub and of `openssl pkey -pubout`.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// LoadPrivateKey decodes the first PEM block of pemBytes as a private key:
//
//   - "PRIVATE KEY": plain PKCS#8 (password ignored);
//   - "ENCRYPTED PRIVATE KEY": PKCS#8 with PBES2 (PBKDF2 with HMAC-SHA1,
//     -SHA256, -SHA384 or -SHA512, and AES-128/192/256-CBC), as written by
//     MarshalPrivateKey and by OpenSSL;
//   - "EC PRIVATE KEY" (SEC1) and "RSA PRIVATE KEY" (PKCS#1), unencrypted;
//   - "ENCRYPTED SIGSTORE PRIVATE KEY" and "ENCRYPTED COSIGN PRIVATE KEY":
//     cosign's keys, whose password may be empty.
//
// Keys may be ECDSA (NIST curves), Ed25519 or RSA of at least 2048 bits.
// A password that does not decrypt the key gives an error wrapping
// ErrWrongPassword (ErrPasswordRequired when it is empty). Input larger than
// MaxKeySize is refused.
func LoadPrivateKey(pemBytes, password []byte) (crypto.Signer, error) {
	block, err := decodePEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, fmt.Errorf("load private key: legacy PEM encryption (Proc-Type header) is not supported; convert the key with `openssl pkcs8 -topk8`")
	}
	var key any
	switch block.Type {
	case pemPrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemEncryptedPrivateKey:
		key, err = decryptPKCS8(block.Bytes, password)
	case pemECPrivateKey:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case pemRSAPrivateKey:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case pemSigstorePrivateKey, pemCosignPrivateKey:
		key, err = decryptCosign(block.Bytes, password)
	default:
		return nil, fmt.Errorf("load private key: unsupported PEM block type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("load private key: %s: %w", block.Type, err)
	}
	signer, err := checkSigner(key)
	if err != nil {
		return nil, fmt.Errorf("load private key: %s: %w", block.Type, err)
	}
	return signer, nil
}

// LoadPublicKey parses a PEM public key by verify.ParsePublicKey, the one
// rule for signers' keys that --key and policy files share: one PKIX
// "PUBLIC KEY" block (cosign.pub, `openssl pkey -pubout`) holding ECDSA
// P-256, P-384 or P-521, Ed25519, or RSA of at least 2048 bits.
func LoadPublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	pub, err := verify.ParsePublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	return pub, nil
}

func decodePEM(b []byte) (*pem.Block, error) {
	if len(b) > MaxKeySize {
		return nil, fmt.Errorf("input of %d bytes exceeds the %d-byte limit for a key file", len(b), MaxKeySize)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	return block, nil
}

// checkSigner returns key as a crypto.Signer if it is a supported kind.
func checkSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
}

// ASN.1 for PKCS#8 EncryptedPrivateKeyInfo with PBES2 (RFC 5958, RFC 8018).
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"` // default hmacWithSHA1
}

const pbkdf2SaltSize = 16

func encryptPKCS8(der, password []byte) ([]byte, error) {
	salt := make([]byte, pbkdf2SaltSize)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	key, err := pbkdf2.Key(sha256.New, string(password), salt, PBKDF2Iterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(der)%aes.BlockSize
	buf := make([]byte, len(der)+pad)
	copy(buf, der)
	for i := len(der); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)

	kdf, err := asn1.Marshal(pbkdf2Params{
		Salt:           salt,
		IterationCount: PBKDF2Iterations,
		PRF:            pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue},
	})
	if err != nil {
		return nil, err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData: buf,
	})
}

// unmarshalAll decodes der into v and refuses trailing bytes.
func unmarshalAll(der []byte, v any, what string) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return fmt.Errorf("malformed %s: %w", what, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("malformed %s: %d trailing bytes", what, len(rest))
	}
	return nil
}

func decryptPKCS8(der, password []byte) (any, error) {
	var info encryptedPrivateKeyInfo
	if err := unmarshalAll(der, &info, "EncryptedPrivateKeyInfo"); err != nil {
		return nil, err
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("unsupported encryption algorithm %s, want PBES2", info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if err := unmarshalAll(info.Algorithm.Parameters.FullBytes, &params, "PBES2 parameters"); err != nil {
		return nil, err
	}

	var keySize int
	switch alg := params.EncryptionScheme.Algorithm; {
	case alg.Equal(oidAES128CBC):
		keySize = 16
	case alg.Equal(oidAES192CBC):
		keySize = 24
	case alg.Equal(oidAES256CBC):
		keySize = 32
	default:
		return nil, fmt.Errorf("unsupported cipher %s, want AES-CBC", alg)
	}
	var iv []byte
	if err := unmarshalAll(params.EncryptionScheme.Parameters.FullBytes, &iv, "AES-CBC IV"); err != nil {
		return nil, err
	}
	if len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("AES-CBC IV of %d bytes, want %d", len(iv), aes.BlockSize)
	}

	if !params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("unsupported key derivation function %s, want PBKDF2", params.KeyDerivationFunc.Algorithm)
	}
	var kdf pbkdf2Params
	if err := unmarshalAll(params.KeyDerivationFunc.Parameters.FullBytes, &kdf, "PBKDF2 parameters"); err != nil {
		return nil, err
	}
	if kdf.IterationCount < 1 || kdf.IterationCount > MaxPBKDF2Iterations {
		return nil, fmt.Errorf("PBKDF2 iteration count %d outside 1..%d", kdf.IterationCount, MaxPBKDF2Iterations)
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != keySize {
		return nil, fmt.Errorf("PBKDF2 key length %d does not match the cipher's %d", kdf.KeyLength, keySize)
	}
	var h func() hash.Hash
	switch prf := kdf.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		h = sha1.New
	case prf.Equal(oidHMACSHA256):
		h = sha256.New
	case prf.Equal(oidHMACSHA384):
		h = sha512.New384
	case prf.Equal(oidHMACSHA512):
		h = sha512.New
	default:
		return nil, fmt.Errorf("unsupported PBKDF2 PRF %s", prf)
	}
	data := info.EncryptedData
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("encrypted data of %d bytes is not a positive multiple of the AES block size", len(data))
	}
	if len(password) == 0 {
		return nil, ErrPasswordRequired
	}

	key, err := pbkdf2.Key(h, string(password), kdf.Salt, kdf.IterationCount, keySize)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	// A wrong password shows as bad padding or, rarely, as padding that
	// happens to look right around bytes that are not a PKCS#8 key.
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, ErrWrongPassword
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, ErrWrongPassword
		}
	}
	plain = plain[:len(plain)-pad]
	var probe asn1.RawValue
	if rest, err := asn1.Unmarshal(plain, &probe); err != nil || len(rest) != 0 {
		return nil, ErrWrongPassword
	}
	k, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		return nil, fmt.Errorf("%w (decrypted bytes are not a PKCS#8 key: %v)", ErrWrongPassword, err)
	}
	return k, nil
}

// cosignBox is the JSON that go-securesystemslib's encrypted package writes
// (and cosign stores, base64-encoded by PEM, in its private keys). It is
// checked here before decryption so that a malformed file is told apart from
// a wrong password; encrypted.Decrypt does the decryption.
type cosignBox struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

func decryptCosign(body, password []byte) (any, error) {
	var box cosignBox
	if err := json.Unmarshal(body, &box); err != nil {
		return nil, fmt.Errorf("malformed encrypted key JSON: %w", err)
	}
	if box.KDF.Name != "scrypt" {
		return nil, fmt.Errorf("unsupported key derivation function %q, want scrypt", box.KDF.Name)
	}
	if box.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("unsupported cipher %q, want nacl/secretbox", box.Cipher.Name)
	}
	// The parameter sets go-securesystemslib accepts (legacy, standard, OWASP).
	p := box.KDF.Params
	if p.R != 8 || p.P != 1 || (p.N != 1<<15 && p.N != 1<<16 && p.N != 1<<17) {
		return nil, fmt.Errorf("unsupported scrypt parameters N=%d r=%d p=%d", p.N, p.R, p.P)
	}
	if len(box.Cipher.Nonce) != 24 {
		return nil, fmt.Errorf("secretbox nonce of %d bytes, want 24", len(box.Cipher.Nonce))
	}
	if len(box.Ciphertext) < secretbox.Overhead {
		return nil, fmt.Errorf("ciphertext of %d bytes is shorter than the secretbox overhead", len(box.Ciphertext))
	}
	der, err := encrypted.Decrypt(body, password)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongPassword, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("decrypted key is not PKCS#8: %w", err)
	}
	return k, nil
}
