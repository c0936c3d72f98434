package s3

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
)

// uploadState is what uploads/<id>/state holds: enough for any node to
// resume the upload where the last Close left it.
type uploadState struct {
	// Version is stateVersion.
	Version int `json:"v"`
	// Size is the number of bytes written.
	Size int64 `json:"size"`
	// SHA256 is the running hash's state (encoding.BinaryMarshaler of
	// crypto/sha256) after Size bytes.
	SHA256 []byte `json:"sha256"`
	// Multipart is the id of the multipart upload to ingest/<id> that holds
	// Parts; empty while no part was uploaded.
	Multipart string `json:"multipart,omitempty"`
	// Parts are the uploaded parts, numbered from 1 in order.
	Parts []partInfo `json:"parts,omitempty"`
	// Chunks hold the bytes after the parts, in order: small objects, one
	// per Close, read back into memory on resume.
	Chunks []chunkInfo `json:"chunks,omitempty"`
}

type partInfo struct {
	N    int    `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

type chunkInfo struct {
	// Key is the object's name under uploads/<id>/.
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

const stateVersion = 1

// Limits on an upload state read back from the store, which is not ours
// alone: whoever can write to the bucket can write it.
const (
	// maxStateSize bounds the state object.
	maxStateSize = 4 << 20
	// maxChunks bounds the chunk objects of one upload; Close folds them
	// into one when there are more.
	maxChunks = 64
	// maxTail bounds the bytes kept in chunks (read into memory on
	// resume): the largest part an upload ever starts.
	maxTail = 256 << 20
	// maxUploadSize bounds an upload's size (S3's largest object).
	maxUploadSize = 5 << 40
)

// sha256StateSize is the length of crypto/sha256's marshalled state:
// "sha\x03", 8 words of state, a 64-byte block and the length.
const sha256StateSize = 4 + 8*4 + 64 + 8

// decodeState parses and checks a state object: every count and size
// within bounds, parts numbered in order, the sizes adding up, chunk names
// of the form Close writes, and a hash state that has seen exactly Size
// bytes. It returns the restored hash.
func decodeState(b []byte) (uploadState, hash.Hash, error) {
	var st uploadState
	bad := func(format string, args ...any) (uploadState, hash.Hash, error) {
		return uploadState{}, nil, fmt.Errorf("%w: %s", ErrBadState, fmt.Sprintf(format, args...))
	}
	if len(b) > maxStateSize {
		return bad("%d bytes", len(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return bad("%v", err)
	}
	if st.Version != stateVersion {
		return bad("version %d", st.Version)
	}
	if st.Size < 0 || st.Size > maxUploadSize {
		return bad("size %d", st.Size)
	}
	if len(st.Parts) > maxParts || len(st.Chunks) > maxChunks {
		return bad("%d parts, %d chunks", len(st.Parts), len(st.Chunks))
	}
	if len(st.Parts) > 0 && !validUploadID(st.Multipart) {
		return bad("parts without a valid multipart upload id")
	}
	if st.Multipart != "" && !validUploadID(st.Multipart) {
		return bad("multipart upload id %q", st.Multipart)
	}
	var total int64
	for i, p := range st.Parts {
		if p.N != i+1 || p.Size < 1 || p.Size > MaxPartSize || !validETag(p.ETag) {
			return bad("part %d: number %d, size %d", i+1, p.N, p.Size)
		}
		total += p.Size
	}
	var tail int64
	for _, c := range st.Chunks {
		if c.Size < 1 || c.Size > maxTail || !validChunkKey(c.Key) {
			return bad("chunk %q of %d bytes", c.Key, c.Size)
		}
		tail += c.Size
	}
	if tail > maxTail {
		return bad("%d bytes in chunks", tail)
	}
	if total+tail != st.Size {
		return bad("parts (%d bytes) and chunks (%d bytes) do not make %d", total, tail, st.Size)
	}
	if len(st.SHA256) != sha256StateSize || binary.BigEndian.Uint64(st.SHA256[len(st.SHA256)-8:]) != uint64(st.Size) {
		return bad("hash state does not describe %d bytes", st.Size)
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.SHA256); err != nil {
		return bad("hash state: %v", err)
	}
	return st, h, nil
}

// encodeState is the inverse of decodeState.
func encodeState(st uploadState) []byte {
	st.Version = stateVersion
	b, _ := json.Marshal(st)
	return b
}

// marshalHash returns the state of a running sha256.
func marshalHash(h hash.Hash) []byte {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // crypto/sha256 always can
	}
	return b
}

func validUploadID(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"\<>&'`, r) {
			return false
		}
	}
	return true
}

func validETag(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// validChunkKey accepts what newChunkKey makes: "chunk-" and 32 hex
// digits.
func validChunkKey(s string) bool {
	hexPart, ok := strings.CutPrefix(s, "chunk-")
	return ok && isHex(hexPart, 32)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
