package registry

import (
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	fuzzSHA256 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	fuzzSHA512 = "sha512:9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"
)

func FuzzParseManifest(f *testing.F) {
	image := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + fuzzSHA256 + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + fuzzSHA512 + `","size":5},` +
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + fuzzSHA256 + `","size":2},` +
		`{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"sha256:` + strings.Repeat("a", 64) + `","size":1}],` +
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + fuzzSHA256 + `","size":9},` +
		`"annotations":{"k":"v"}}`
	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x",` +
		`"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + fuzzSHA256 + `","size":7}]}`
	docker := `{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + fuzzSHA256 + `","size":1},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"` + fuzzSHA512 + `","size":3,"urls":["https://example.com/l"]}]}`
	f.Add("", []byte(image))
	f.Add(ocispec.MediaTypeImageManifest+"; charset=utf-8", []byte(image))
	f.Add("", []byte(index))
	f.Add(ocispec.MediaTypeImageIndex, []byte(index))
	f.Add(mediaTypeDockerManifest, []byte(docker))
	f.Add(mediaTypeDockerList, []byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../x","size":1}}`))
	f.Add(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"`+fuzzSHA256+`","size":-1}}`))
	f.Add("", []byte(`{"schemaVersion":1}`))
	f.Add("text/plain; ;", []byte(`{}`))
	f.Add("", []byte(`null`))
	f.Add("", []byte{0xff, 0xfe, '{'})

	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		m, err := ParseManifest(contentType, body)
		if err != nil {
			if m != nil {
				t.Errorf("ParseManifest returned a manifest and an error: %v", err)
			}
			return
		}
		check := func(what string, d digest.Digest) {
			if _, err := ParseDigest(string(d)); err != nil {
				t.Errorf("ParseManifest accepted %s digest %q: %v", what, d, err)
			}
		}
		seen := map[digest.Digest]bool{}
		for _, d := range m.Blobs {
			check("blob", d)
			if seen[d] {
				t.Errorf("blob %s listed twice", d)
			}
			seen[d] = true
		}
		clear(seen)
		for _, d := range m.Children {
			check("child", d)
			if seen[d] {
				t.Errorf("child %s listed twice", d)
			}
			seen[d] = true
		}
		if m.Subject != "" {
			check("subject", m.Subject)
		}
		switch m.MediaType {
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
			if len(m.Blobs) == 0 {
				t.Errorf("image manifest without blobs (the config is always one)")
			}
			if len(m.Children) != 0 {
				t.Errorf("image manifest with children %v", m.Children)
			}
		case ocispec.MediaTypeImageIndex, mediaTypeDockerList:
			if len(m.Blobs) != 0 {
				t.Errorf("index with blobs %v", m.Blobs)
			}
		default:
			t.Errorf("ParseManifest accepted media type %q", m.MediaType)
		}
	})
}

// joinRoute rebuilds the path parseRoute was given from what it returned.
func joinRoute(rt route) []string {
	base := "/v2/" + rt.name
	switch rt.kind {
	case "tags":
		return []string{base + "/tags/list"}
	case "uploads":
		return []string{base + "/blobs/uploads", base + "/blobs/uploads/"}
	case "upload":
		return []string{base + "/blobs/uploads/" + rt.arg}
	case "blob":
		return []string{base + "/blobs/" + rt.arg}
	case "manifest":
		return []string{base + "/manifests/" + rt.arg}
	case "referrers":
		return []string{base + "/referrers/" + rt.arg}
	case "history":
		return []string{base + "/_cairn/history"}
	}
	return nil
}

func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{
		"/v2", "/v2/", "/v2/_catalog",
		"/v2/library/ubuntu/tags/list",
		"/v2/a/b/c/manifests/latest",
		"/v2/a/manifests/" + fuzzSHA256,
		"/v2/a/blobs/" + fuzzSHA512,
		"/v2/a/blobs/uploads/", "/v2/a/blobs/uploads", "/v2/a/blobs/uploads/0123abcd",
		"/v2/a/referrers/" + fuzzSHA256,
		"/v2/a/_cairn/history", "/v2/a/_cairn/other",
		"/v2/../etc/manifests/x", "/v2/a/../../b/manifests/x", "/v2/a/./b/blobs/x",
		"/v2//manifests/x", "/v2/a//b/tags/list", "/v2/a/blobs/uploads/blobs/uploads",
		"/v2/%2e%2e/manifests/x", "/v2/a%2F..%2Fb/tags/list", "/v2/a/manifests/x%2Fy",
		"/v2/a%00b/tags/list", "/v2/a%zz/tags/list", "/v2/a/blobs/uploads/%2e%2e%2f%2e%2e",
		"/v3/a/manifests/x", "", "/",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, ok := parseRoute(p)
		if !ok {
			return
		}
		switch rt.kind {
		case "ping", "catalog":
			if rt.name != "" || rt.arg != "" {
				t.Errorf("parseRoute(%q) = %+v: %s with a name or argument", p, rt, rt.kind)
			}
			return
		}
		// The name and argument are the unescaped parts of the path.
		unescaped, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("parseRoute(%q) = %+v, but the path does not unescape: %v", p, rt, err)
		}
		joined := joinRoute(rt)
		if joined == nil {
			t.Fatalf("parseRoute(%q) = %+v: unknown kind", p, rt)
		}
		if !slices.Contains(joined, unescaped) {
			t.Errorf("parseRoute(%q) = %+v, which rebuilds as %q, not %q", p, rt, joined, unescaped)
		}
		if !ValidName(rt.name) {
			return
		}
		// A name that passes ValidName is safe to use as a path or key.
		if strings.Contains(rt.name, "..") || path.Clean("/"+rt.name) != "/"+rt.name {
			t.Errorf("parseRoute(%q) = %+v: ValidName accepts a name with path elements", p, rt)
		}
	})
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{
		"a", "library/ubuntu", "a-b__c.d/e--f", "a/b/c/d",
		"..", "a/../b", "a/./b", "/a", "a/", "a//b", "A", "a..b", "a.-b", "a___b",
		strings.Repeat("a", MaxNameLength), strings.Repeat("a", MaxNameLength+1),
		"a\nb", "a\x00", "ä",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidName(s) {
			return
		}
		if len(s) == 0 || len(s) > MaxNameLength {
			t.Errorf("ValidName(%q): length %d", s, len(s))
		}
		if path.Clean("/"+s) != "/"+s {
			t.Errorf("ValidName(%q): not a clean relative path", s)
		}
		for _, comp := range strings.Split(s, "/") {
			if comp == "" || comp == "." || comp == ".." || strings.Contains(comp, "..") {
				t.Errorf("ValidName(%q): component %q", s, comp)
			}
			if !isLowerAlnum(comp[0]) || !isLowerAlnum(comp[len(comp)-1]) {
				t.Errorf("ValidName(%q): component %q does not start and end with [a-z0-9]", s, comp)
			}
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; !isLowerAlnum(c) && !strings.ContainsRune("._-/", rune(c)) {
				t.Errorf("ValidName(%q): byte %q", s, c)
			}
		}
	})
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{
		fuzzSHA256, fuzzSHA512,
		"sha384:" + strings.Repeat("0", 96), "md5:" + strings.Repeat("0", 32),
		"sha256:" + strings.Repeat("A", 64), "sha256:../../x", "sha256:", ":", "", "sha256",
		fuzzSHA256 + "\n", " " + fuzzSHA256, fuzzSHA256[:70],
		"sha256+b64:" + strings.Repeat("a", 43) + "=",
		"SHA256:" + fuzzSHA256[7:],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			if d != "" {
				t.Errorf("ParseDigest(%q) = %q with error %v", s, d, err)
			}
			return
		}
		if string(d) != s {
			t.Errorf("ParseDigest(%q) = %q, not the input", s, d)
		}
		if err := d.Validate(); err != nil {
			t.Errorf("ParseDigest(%q) accepted a digest that does not validate: %v", s, err)
		}
		var wantLen int
		switch d.Algorithm() {
		case digest.SHA256:
			wantLen = 64
		case digest.SHA512:
			wantLen = 128
		default:
			t.Fatalf("ParseDigest(%q): algorithm %q", s, d.Algorithm())
		}
		enc := d.Encoded()
		if len(enc) != wantLen {
			t.Errorf("ParseDigest(%q): encoding of %d characters, want %d", s, len(enc), wantLen)
		}
		if strings.Trim(enc, "0123456789abcdef") != "" {
			t.Errorf("ParseDigest(%q): encoding is not lower-case hex", s)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"0-0", "0-99", "bytes 0-99", "bytes 100-199/*", " 5-10 ", "100-199/1000",
		"10-5", "-1-5", "a-b", "", "-", "0-", "-5",
		"0-9223372036854775807", "9223372036854775807-9223372036854775807", "0-9223372036854775808",
		"+1-+2", "0x10-0x20",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := parseContentRange(s)
		if err != nil {
			if start != 0 || end != 0 {
				t.Errorf("parseContentRange(%q) = %d, %d with error %v", s, start, end, err)
			}
			return
		}
		if start < 0 || end < start {
			t.Errorf("parseContentRange(%q) = %d, %d: want 0 <= start <= end", s, start, end)
		}
		// The result reads back the same, whatever the spelling.
		again, againEnd, err := parseContentRange(strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10))
		if err != nil || again != start || againEnd != end {
			t.Errorf("parseContentRange(%q) = %d, %d, but %d-%d parses as %d, %d, %v", s, start, end, start, end, again, againEnd, err)
		}
	})
}
