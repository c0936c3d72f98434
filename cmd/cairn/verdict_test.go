package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
	"cairn.dev/cairn/verify/verifytest"
)

// agreementPolicies are the policies of the verdict-agreement test, by
// name: keys and paths are relative to the policy's directory. Their rules
// match "**" patterns, so that they apply whatever port the servers get.
var agreementPolicies = []struct{ name, yaml string }{
	{"keys", `version: 1
rules:
  - match: "**/built/*"
    signers:
      - key: release.pub
    attestations:
      - type: https://slsa.dev/provenance/v1
        builderId: https://ci.example/release
  - match: "**"
    signers:
      - key: release.pub
`},
	{"keyless-maxage", `version: 1
rules:
  - match: "**"
    trustedRoot: trusted_root.json
    signers:
      - keyless: {issuer: "https://accounts.example.com", subject: trainer@example.com}
    maxAge: 1h
`},
	{"provenance", `version: 1
rules:
  - match: "**"
    signers:
      - key: release.pub
    attestations:
      - type: https://slsa.dev/provenance/v1
`},
}

// agreementVersion is one version of the matrix and what each policy
// (in agreementPolicies' order) must say of it.
type agreementVersion struct {
	name, repo string
	allowed    [3]bool
	digest     digest.Digest
}

var uiVerdictRe = regexp.MustCompile(`data-verdict="([a-z]+)"`)

// TestVerdictAgreement is the matrix of versions × policies over which
// the four judges of a version must agree: the pull gate of a real cairn
// serve --policy (the HTTP status of the manifest GET by digest), the web
// UI of that server (the version page's badge), cairn verify --policy
// (its exit code) and the agent (client.Pull with an agent.Agent), the
// last two reading the same store through a server without a policy, so
// that each judges for itself. Every cell must also be what the test
// expects, so that agreeing on a broken answer fails too.
func TestVerdictAgreement(t *testing.T) {
	t.Setenv(passwordEnv, "")
	const who, issuer = "trainer@example.com", "https://accounts.example.com"
	dir := t.TempDir()
	release := writePair(t, dir, "release")
	other := writePair(t, dir, "other")
	vs := verifytest.New(t)
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	var policyFiles []string
	var policies []*verify.Policy
	for _, p := range agreementPolicies {
		f := filepath.Join(dir, p.name+".yaml")
		if err := os.WriteFile(f, []byte(p.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		pol, err := verify.LoadPolicy(f)
		if err != nil {
			t.Fatal(err)
		}
		policyFiles, policies = append(policyFiles, f), append(policies, pol)
	}

	//                                                         keys   keyless-maxage  provenance
	versions := []*agreementVersion{
		{name: "signed by the right key", repo: "m/right", allowed: [3]bool{true, false, false}},
		{name: "signed by another key", repo: "m/other", allowed: [3]bool{false, false, false}},
		{name: "unsigned", repo: "m/unsigned", allowed: [3]bool{false, false, false}},
		{name: "attestation only", repo: "m/attonly", allowed: [3]bool{false, false, false}},
		{name: "missing a required attestation", repo: "built/noatt", allowed: [3]bool{false, false, false}},
		{name: "wrong builder", repo: "built/wrong", allowed: [3]bool{false, false, true}},
		{name: "signed and attested", repo: "built/good", allowed: [3]bool{true, false, true}},
		{name: "quarantined", repo: "m/quarantined", allowed: [3]bool{false, false, false}},
		{name: "keyless, fresh", repo: "m/keyless", allowed: [3]bool{false, true, false}},
		{name: "keyless, too old", repo: "m/old", allowed: [3]bool{false, false, false}},
	}

	// The versions are pushed, signed and attested with the CLI through a
	// server without a policy, over a data directory the next servers
	// open in turn.
	data := t.TempDir()
	host, stop := serveInProcess(t, "--data", data)
	byRepo := map[string]*agreementVersion{}
	for _, v := range versions {
		v.digest = pushModel(t, host+"/"+v.repo+":v1")
		byRepo[v.repo] = v
	}
	ref := func(repo string) string { return host + "/" + repo + ":v1" }
	sign := func(repo, key string) { mustRun(t, "sign", ref(repo), "--key", key+".key") }
	provenance := func(repo, builder string) {
		mustRun(t, "attest", ref(repo), "--key", release+".key", "--builder-id", builder)
	}
	keyless := func(repo string, at time.Time) {
		r, err := remote.NewRepository(host + "/" + repo)
		if err != nil {
			t.Fatal(err)
		}
		r.PlainHTTP = true
		desc, err := r.Resolve(t.Context(), "v1")
		if err != nil {
			t.Fatal(err)
		}
		st, err := attest.Statement(desc, host+"/"+repo, attest.PredicateCosignSign, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := vs.SignStatement(t, who, issuer, st)
		if !at.IsZero() {
			b = vs.SignStatementAt(t, who, issuer, st, at)
		}
		if _, err := attest.Attach(t.Context(), r, desc, attest.PredicateCosignSign, b); err != nil {
			t.Fatal(err)
		}
	}
	sign("m/right", release)
	sign("m/other", other)
	provenance("m/attonly", "https://ci.example/release")
	sign("built/noatt", release)
	sign("built/wrong", release)
	provenance("built/wrong", "https://ci.example/laptop")
	sign("built/good", release)
	provenance("built/good", "https://ci.example/release")
	sign("m/quarantined", release)
	provenance("m/quarantined", "https://ci.example/release")
	keyless("m/quarantined", time.Time{})
	mustRun(t, "quarantine", ref("m/quarantined"), "--reason", "licence withdrawn")
	keyless("m/keyless", time.Time{})
	keyless("m/old", time.Now().Add(-3*time.Hour))
	stop()

	type cell struct{ gate, ui, cli, agent string }
	cells := make([][]cell, len(versions))
	for i := range cells {
		cells[i] = make([]cell, len(policies))
	}

	// The gate and the UI of cairn serve --policy, one policy at a time.
	for pi, pf := range policyFiles {
		host, stop := serveInProcess(t, "--data", data, "--policy", pf)
		for vi, v := range versions {
			cells[vi][pi].gate = gateAnswer(t, host, v.repo, v.digest)
			cells[vi][pi].ui = uiBadge(t, host, v.repo, v.digest)
		}
		stop()
	}

	// cairn verify --policy and the agent, through a server without one.
	host, stop = serveInProcess(t, "--data", data)
	cache, err := client.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for pi, pf := range policyFiles {
		for vi, v := range versions {
			name := host + "/" + v.repo + "@" + string(v.digest)
			code, out := runCLI(t, "verify", name, "--policy", pf)
			switch code {
			case exitOK:
				cells[vi][pi].cli = "allowed"
			case exitRefused:
				cells[vi][pi].cli = "refused"
			default:
				cells[vi][pi].cli = fmt.Sprintf("exit %d: %s", code, out)
			}
			cells[vi][pi].agent = agentVerdict(t, name, policies[pi], cache)
		}
	}
	stop()

	var disagreements, wrong int
	for vi, v := range versions {
		for pi, p := range agreementPolicies {
			c := cells[vi][pi]
			want := "refused"
			if v.allowed[pi] {
				want = "allowed"
			}
			agree := c.gate == c.ui && c.ui == c.cli && c.cli == c.agent
			t.Logf("%-32s × %-15s gate %-8s ui %-8s verify %-8s agent %-8s", v.name, p.name, c.gate, c.ui, c.cli, c.agent)
			if !agree {
				disagreements++
				t.Errorf("%s × %s: the judges disagree: gate %q, UI %q, cairn verify %q, agent %q", v.name, p.name, c.gate, c.ui, c.cli, c.agent)
			} else if c.gate != want {
				wrong++
				t.Errorf("%s × %s: all say %q, want %q", v.name, p.name, c.gate, want)
			}
		}
	}
	t.Logf("verdict agreement: %d cells (%d versions × %d policies), %d disagreements, %d agreed on a wrong verdict",
		len(versions)*len(policies), len(versions), len(policies), disagreements, wrong)
}

// gateAnswer is the pull gate's answer to the GET of a manifest by
// digest: "allowed" (200) or "refused" (403), or what else it said.
func gateAnswer(t *testing.T, host, repo string, d digest.Digest) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+host+"/v2/"+repo+"/manifests/"+string(d), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return "allowed"
	case http.StatusForbidden:
		return "refused"
	}
	return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
}

// uiBadge reads the verdict badge of the version page: "allowed", or
// "refused" for a refused or quarantined version, or what else it shows.
func uiBadge(t *testing.T, host, repo string, d digest.Digest) string {
	t.Helper()
	resp, err := http.Get("http://" + host + "/r/" + repo + "@" + string(d))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	ms := uiVerdictRe.FindAllStringSubmatch(string(body), -1)
	if resp.StatusCode != http.StatusOK || len(ms) != 1 {
		return fmt.Sprintf("HTTP %d with %d badges", resp.StatusCode, len(ms))
	}
	pull := strings.Contains(string(body), "cairn pull ")
	switch s := ms[0][1]; {
	case s == "allowed" && pull:
		return "allowed"
	case (s == "refused" || s == "quarantined") && !pull:
		return "refused"
	default:
		return fmt.Sprintf("%s (pull command shown: %t)", s, pull)
	}
}

// agentVerdict pulls name with the agent applying policy: "allowed",
// "refused" (a refusal, the registry's included), or the error.
func agentVerdict(t *testing.T, name string, policy *verify.Policy, cache *client.Cache) string {
	t.Helper()
	r, err := client.Open(name, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Pull(context.Background(), r, filepath.Join(t.TempDir(), "m"), client.PullOptions{Cache: cache, Agent: &agent.Agent{Policy: policy}})
	switch {
	case err == nil:
		return "allowed"
	case errors.Is(err, verify.ErrVerification):
		return "refused"
	}
	return "error: " + err.Error()
}
