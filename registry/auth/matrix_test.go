package auth_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/storage"
)

// refusedErr reports whether err is a 401 or 403 answer (from the registry
// or the token endpoint), as opposed to success or any other failure.
func refusedErr(err error) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden)
}

// TestAuth_Matrix drives a real server with oras-go clients, one per
// principal (users and API tokens, each through the token flow), over every
// repository and action, and checks each outcome against an independent
// statement of what the principal may do: nothing is granted beyond the
// role, and a token never exceeds its scope.
func TestAuth_Matrix(t *testing.T) {
	s := newServer(t, auth.Config{})
	repos := []string{"team-a/m", "team-b/x", "team-b/sub/y", "other/z"}
	teamA := func(r string) bool { return strings.HasPrefix(r, "team-a/") && strings.Count(r, "/") == 1 }
	teamB := func(r string) bool { return strings.HasPrefix(r, "team-b/") }
	anyRepo := func(string) bool { return true }
	noRepo := func(string) bool { return false }

	s.addUser(t, "alice", "alice-password", "team-a/*", "write")
	s.addUser(t, "bob", "bob-password", "team-a/*", "read", "team-b/**", "admin")
	s.addUser(t, "carol", "carol-password", "**", "read")
	s.addUser(t, "dave", "dave-password")
	tA := s.createToken(t, "alice", "alice-password", 0, "repository:team-a/*:pull")
	tB := s.createToken(t, "bob", "bob-password", 0, "repository:team-b/**:pull,push", "registry:catalog:*")
	tC := s.createToken(t, "carol", "carol-password", 0, "repository:**:*")

	type principal struct {
		name string
		cred orasauth.Credential
		// pull, push and delete say what it may do on a repository.
		pull, push, del func(string) bool
		// catalog is the catalog it sees; nil means refused.
		catalog []string
	}
	sorted := func(rs ...string) []string { rs = slices.Clone(rs); slices.Sort(rs); return rs }
	all := sorted(repos...)
	ps := []principal{
		{"anonymous", orasauth.EmptyCredential, noRepo, noRepo, noRepo, nil},
		{"admin", orasauth.Credential{Username: "admin", Password: adminPassword}, anyRepo, anyRepo, anyRepo, all},
		{"alice", orasauth.Credential{Username: "alice", Password: "alice-password"}, teamA, teamA, noRepo, []string{"team-a/m"}},
		{"bob", orasauth.Credential{Username: "bob", Password: "bob-password"}, func(r string) bool { return teamA(r) || teamB(r) }, teamB, teamB, sorted("team-a/m", "team-b/x", "team-b/sub/y")},
		{"carol", orasauth.Credential{Username: "carol", Password: "carol-password"}, anyRepo, noRepo, noRepo, all},
		{"dave", orasauth.Credential{Username: "dave", Password: "dave-password"}, noRepo, noRepo, noRepo, []string{}},
		{"token-a", orasauth.Credential{Username: "ci", Password: tA.Token}, teamA, noRepo, noRepo, nil},
		{"token-b", orasauth.Credential{Username: "anything", Password: tB.Token}, teamB, teamB, noRepo, sorted("team-b/x", "team-b/sub/y")},
		{"token-c", orasauth.Credential{Username: "carol", Password: tC.Token}, anyRepo, noRepo, noRepo, nil},
	}

	// Fixtures, pushed as admin: in each repository an image tagged v1 with
	// a referrer; per principal a victim manifest to delete and a blob to
	// mount elsewhere.
	imgs := map[string]image{}
	refs := map[string]image{}
	victims := map[string]image{}
	mountBlobs := map[string]digest.Digest{}
	for _, r := range repos {
		imgs[r] = s.pushImage(t, r, "v1", []byte("layer of "+r), nil)
		sub := imgs[r]
		refs[r] = s.pushImage(t, r, "", []byte("signature of "+r), &sub)
		for _, p := range ps {
			victims[p.name+" "+r] = s.pushImage(t, r, "victim-"+p.name, []byte("victim "+p.name+" "+r), nil)
			b := []byte("mount " + p.name + " " + r)
			if code, _, body := s.do(t, "POST", "/v2/"+r+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "admin", adminPassword, b); code != http.StatusCreated {
				t.Fatalf("blob for mounting: %d %s", code, body)
			}
			mountBlobs[p.name+" "+r] = digest.FromBytes(b)
		}
	}

	cells, failures := 0, 0
	cell := func(p principal, what string, want bool, err error) {
		t.Helper()
		cells++
		switch {
		case want && err != nil:
			failures++
			t.Errorf("%s: %s: want allowed, got %v", p.name, what, err)
		case !want && err == nil:
			failures++
			t.Errorf("%s: %s: want refused, got allowed", p.name, what)
		case !want && !refusedErr(err):
			failures++
			t.Errorf("%s: %s: want 401 or 403, got %v", p.name, what, err)
		}
	}
	// status runs a raw request through the principal's auth client.
	status := func(c *orasauth.Client, method, path string) (int, error) {
		req, _ := http.NewRequestWithContext(t.Context(), method, s.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// asErr turns a status into what cell expects.
	asErr := func(code int, err error, ok ...int) error {
		if err != nil {
			return err
		}
		if slices.Contains(ok, code) {
			return nil
		}
		return &errcode.ErrorResponse{StatusCode: code}
	}

	for _, p := range ps {
		t.Run(p.name, func(t *testing.T) {
			ctx := t.Context()
			c := s.client(p.cred)
			for _, r := range repos {
				repo := s.repo(t, r, p.cred)
				repo.Client = c
				img := imgs[r]

				desc, err := repo.Resolve(ctx, "v1")
				if err == nil {
					_, err = content.FetchAll(ctx, repo, desc)
				}
				cell(p, "pull "+r, p.pull(r), err)

				_, err = content.FetchAll(ctx, repo.Blobs(), ocispec.Descriptor{Digest: img.Layer, Size: int64(len("layer of " + r)), MediaType: "application/octet-stream"})
				cell(p, "blob "+r, p.pull(r), err)

				err = repo.Tags(ctx, "", func([]string) error { return nil })
				cell(p, "tags list "+r, p.pull(r), err)

				var found []ocispec.Descriptor
				err = repo.Referrers(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: img.Manifest, Size: int64(len(img.ManifestBody))}, "", func(rs []ocispec.Descriptor) error {
					found = append(found, rs...)
					return nil
				})
				if err == nil && (len(found) != 1 || found[0].Digest != refs[r].Manifest) {
					err = fmt.Errorf("referrers = %v, want %s", found, refs[r].Manifest)
				}
				cell(p, "referrers "+r, p.pull(r), err)

				code, err := status(c, "GET", "/v2/"+r+"/_cairn/history")
				cell(p, "history "+r, p.pull(r), asErr(code, err, 200))
				code, err = status(c, "GET", "/v2/"+r+"/_cairn/versions")
				cell(p, "versions "+r, p.pull(r), asErr(code, err, 200))

				// A blob of another repository, by digest, through r: never
				// served; 404 to those who may pull r.
				other := imgs[repos[(slices.Index(repos, r)+1)%len(repos)]].Layer
				code, err = status(c, "GET", "/v2/"+r+"/blobs/"+other.String())
				if code == http.StatusOK {
					t.Errorf("%s: blob of another repository served through %s", p.name, r)
				}
				cell(p, "blob of another repository through "+r, p.pull(r), asErr(code, err, 404))

				body := []byte("pushed by " + p.name + " to " + r)
				err = repo.Push(ctx, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(body), Size: int64(len(body))}, bytes.NewReader(body))
				if err == nil {
					man := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"%s","size":%d}]}`,
						img.Config, digest.FromBytes(body), len(body))
					err = repo.PushReference(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man))}, bytes.NewReader(man), "by-"+p.name)
				}
				cell(p, "push "+r, p.push(r), err)

				v := victims[p.name+" "+r]
				err = repo.Delete(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: v.Manifest, Size: int64(len(v.ManifestBody))})
				cell(p, "delete "+r, p.del(r), err)
				if _, gerr := s.Meta.Manifest(ctx, r, v.Manifest); (gerr == nil) == p.del(r) {
					t.Errorf("%s: delete %s: the manifest is there: %v, want there %v", p.name, r, gerr == nil, !p.del(r))
				}

				// Mounts from every other repository: linked (201) only
				// with push here and pull there; with push alone a plain
				// upload (202); else refused.
				for _, from := range repos {
					if from == r {
						continue
					}
					d := mountBlobs[p.name+" "+from]
					code, err := status(c, "POST", "/v2/"+r+"/blobs/uploads/?mount="+d.String()+"&from="+from)
					want := 201
					if !p.pull(from) {
						want = 202
					}
					cell(p, "mount "+from+" into "+r, p.push(r), asErr(code, err, want))
					_, lerr := s.Meta.BlobLink(ctx, r, d)
					if linked := lerr == nil; linked != (p.push(r) && p.pull(from)) {
						t.Errorf("%s: mount %s into %s: linked %v, want %v", p.name, from, r, linked, !linked)
					}
				}
			}

			reg, _ := remote.NewRegistry(s.Host)
			reg.PlainHTTP = true
			reg.Client = c
			var got []string
			err := reg.Repositories(ctx, "", func(rs []string) error { got = append(got, rs...); return nil })
			if p.catalog == nil {
				cell(p, "catalog", false, err)
			} else {
				cell(p, "catalog", true, err)
				if got == nil {
					got = []string{}
				}
				slices.Sort(got)
				if !slices.Equal(got, p.catalog) {
					t.Errorf("%s: catalog = %q, want %q", p.name, got, p.catalog)
				}
			}
		})
	}
	t.Logf("%d principals x %d repositories: %d cells checked, %d wrong", len(ps), len(repos), cells, failures)

	// An anonymous mount (no from) never links a blob with auth on, even
	// for the administrator: it could take one from any repository.
	c := s.client(orasauth.Credential{Username: "admin", Password: adminPassword})
	fresh := []byte("a blob only other/z has")
	if code, _, body := s.do(t, "POST", "/v2/other/z/blobs/uploads/?digest="+digest.FromBytes(fresh).String(), "admin", adminPassword, fresh); code != http.StatusCreated {
		t.Fatalf("blob for mounting: %d %s", code, body)
	}
	d := digest.FromBytes(fresh)
	req, _ := http.NewRequest("POST", s.URL+"/v2/team-a/m/blobs/uploads/?mount="+d.String(), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("anonymous mount: %d, want 202 (a plain upload)", resp.StatusCode)
	}
	if _, err := s.Meta.BlobLink(t.Context(), "team-a/m", d); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("anonymous mount linked the blob: %v", err)
	}

	// Denials by a known identity are in the access log.
	if len(s.Rec.find(func(r storage.AccessRecord) bool {
		return r.Action == storage.ActionDenied && r.Principal == "alice" && r.Repository == "other/z" && r.Status == 403
	})) == 0 {
		t.Error("no access record of alice's denied requests on other/z")
	}
}
