package s3

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzParseURL checks that ParseURL never panics and that what it accepts
// is safe to use: a valid bucket, a prefix without . or .. elements, and a
// URL that String gives back the same.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"s3://models", "s3://a.b-c/x/y?endpoint=http://127.0.0.1:9000&region=us-east-1&part-size=16MiB",
		"s3://bucket/../x", "s3://k:s@bucket", "s3://bucket?endpoint=https://[::1]:1/", "s3://bucket?part-size=5GiB",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseURL(raw)
		if err != nil {
			return
		}
		if !validBucket(c.Bucket) {
			t.Fatalf("accepted bucket %q", c.Bucket)
		}
		if c.Prefix != "" {
			if !strings.HasSuffix(c.Prefix, "/") {
				t.Fatalf("prefix %q", c.Prefix)
			}
			for _, seg := range strings.Split(strings.TrimSuffix(c.Prefix, "/"), "/") {
				if !validSegment(seg) {
					t.Fatalf("prefix %q has element %q", c.Prefix, seg)
				}
			}
		}
		if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
			t.Fatalf("part size %d", c.PartSize)
		}
		again, err := ParseURL(c.String())
		if err != nil || again != c {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", raw, c, c.String(), again, err)
		}
	})
}

// FuzzDecodeState feeds decodeState what someone with write access to the
// bucket could put in an upload's state object, and checks that what it
// accepts is consistent: sizes that add up, a hash that has seen Size
// bytes, names that stay inside the upload, and bounded memory.
func FuzzDecodeState(f *testing.F) {
	h := sha256.New()
	h.Write(make([]byte, 10))
	f.Add(encodeState(uploadState{Size: 10, SHA256: marshalHash(h), Chunks: []chunkInfo{{Key: "chunk-0123456789abcdef0123456789abcdef", Size: 10}}}))
	f.Add(encodeState(uploadState{SHA256: marshalHash(sha256.New())}))
	f.Add(encodeState(uploadState{Size: 10, SHA256: marshalHash(h), Multipart: "abc", Parts: []partInfo{{N: 1, ETag: "e", Size: 10}}}))
	f.Add([]byte(`{"v":1,"size":-1}`))
	f.Add([]byte(`{"v":1,"chunks":[{"key":"../state","size":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, hs, err := decodeState(b)
		if err != nil {
			return
		}
		var total int64
		for i, p := range st.Parts {
			if p.N != i+1 || p.Size <= 0 {
				t.Fatalf("part %d: %+v", i, p)
			}
			total += p.Size
		}
		var tail int64
		for _, c := range st.Chunks {
			if !validChunkKey(c.Key) || strings.ContainsAny(c.Key, "/.") || c.Size <= 0 {
				t.Fatalf("chunk %+v", c)
			}
			tail += c.Size
		}
		if total+tail != st.Size || tail > maxTail || len(st.Chunks) > maxChunks || len(st.Parts) > maxParts {
			t.Fatalf("accepted %+v", st)
		}
		if len(st.Parts) > 0 && st.Multipart == "" {
			t.Fatal("parts without a multipart upload")
		}
		// The restored hash continues from Size bytes (bytes of its block
		// buffer past the length are not part of the state).
		re := marshalHash(hs)
		if len(re) != sha256StateSize || binary.BigEndian.Uint64(re[len(re)-8:]) != uint64(st.Size) {
			t.Fatalf("restored hash has seen %x, want %d bytes", re[len(re)-8:], st.Size)
		}
	})
}
