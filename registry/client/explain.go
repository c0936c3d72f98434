package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"cairn.dev/cairn/verify"
)

// This file is the one place that turns what a registry, the network or a
// failed verification says into what a person can do about it. Each
// explained error keeps its cause (errors.Is and errors.As see through it)
// and replaces its message, which for a registry's refusal is a URL of the
// token flow and a Go rendering of the OCI error body.

// MaxListedTags bounds the tags a "tag not found" message lists.
const MaxListedTags = 10

// Explained is an error with the sentence a person acts on.
type Explained struct {
	Msg string
	Err error
}

func (e *Explained) Error() string { return e.Msg }
func (e *Explained) Unwrap() error { return e.Err }

func explained(err error, format string, args ...any) error {
	return &Explained{Msg: fmt.Sprintf(format, args...), Err: err}
}

// Explain maps err to a message saying what to do, when it is one of:
//
//   - 401 (no credential, or a refused one): run `cairn login HOST`;
//   - 403 naming the actions the token lacks: no push on REPO for USER;
//   - plain HTTP sent to a server that speaks HTTPS (its 400): --ca-file,
//     --insecure or an https:// prefix;
//   - "server gave HTTP response to HTTPS client": --plain-http;
//   - a certificate that does not verify: --ca-file (or SSL_CERT_FILE) or
//     --insecure;
//   - a refused connection: is cairn serve running there?
//   - a signature by an untrusted key, or none: which key, what to do.
//
// Other errors, and errors already explained, are returned as they are.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var ex *Explained
	if errors.As(err, &ex) {
		return err
	}
	var er *errcode.ErrorResponse
	var se *StatusError
	var ue *url.Error
	switch {
	case errors.As(err, &er) && er.StatusCode == http.StatusUnauthorized,
		errors.As(err, &se) && se.Status == http.StatusUnauthorized:
		host := errHost(err)
		return explained(err, "%s: not logged in, or the credential was refused (401): run `cairn login %s` (or set %s and %s)", host, host, UsernameEnv, PasswordEnv)
	case errors.As(err, &er) && er.StatusCode == http.StatusForbidden:
		if action, repo, ok := deniedScope(er); ok {
			host := er.URL.Host
			return explained(err, "no %s on %s for %s at %s (403): ask an administrator of the registry for it (cairn access grant %s '%s' %s)",
				action, repo, userAt(host), host, userAt(host), repo, roleFor(action))
		}
	case errors.As(err, &er) && er.StatusCode == http.StatusBadRequest && er.URL != nil && er.URL.Scheme == "http" && len(er.Errors) == 0:
		host := er.URL.Host
		return explained(err, "%s answered 400 Bad Request to plain HTTP, as a server that speaks HTTPS does: give --ca-file CA.pem (the authority that signed its certificate), or --insecure, or an https:// prefix (https://%s/...)", host, host)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		host := errHost(err)
		return explained(err, "%s answers plain HTTP, not HTTPS: give --plain-http (or an http:// prefix: http://%s/...)", host, host)
	case isCertError(err):
		host := errHost(err)
		return explained(err, "%s: its TLS certificate does not verify (%v): give --ca-file CA.pem with the authority that signed it (or set SSL_CERT_FILE), or --insecure to skip the check", host, certCause(err))
	case errors.Is(err, syscall.ECONNREFUSED) && errors.As(err, &ue):
		host := errHost(err)
		return explained(err, "nothing listens on %s (connection refused): is cairn serve running there?", host)
	case errors.Is(err, verify.ErrUntrustedSignature):
		return explained(err, "%s\n  trust the key that signed it (--key PUB, or the policy's signers), or sign the model with the private key of a trusted one (cairn sign REF --key KEY.key)", err.Error())
	}
	return err
}

// ExplainOfflineDir adds to a verification of the directory dir (cairn
// verify DIR, cairn run --dir) what to do when it holds no signature: the
// signatures are recorded at pull time, so a directory pulled before the
// model was signed has none.
func ExplainOfflineDir(err error, dir string) error {
	if err == nil || !errors.Is(err, verify.ErrUnsigned) {
		return err
	}
	return explained(err, "%s\n  %s holds no signature: it was pulled before the model was signed (signatures are recorded at pull time), or the model is unsigned; pull it again (cairn pull REF %s) once it is signed", err.Error(), dir, dir)
}

// notFound explains a manifest the registry does not have: an unknown
// repository, or a tag (or digest) it does not hold, listing up to
// MaxListedTags of the tags it does.
func (r *Repository) notFound(ctx context.Context, err error) error {
	ref := r.Repo.Reference
	where := ref.Registry + "/" + ref.Repository
	var tags []string
	more := false
	terr := r.Repo.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if len(tags) == MaxListedTags {
				more = true
				return errStop
			}
			tags = append(tags, t)
		}
		return nil
	})
	if terr != nil && !errors.Is(terr, errStop) {
		var er *errcode.ErrorResponse
		if errors.Is(terr, errdef.ErrNotFound) || errors.As(terr, &er) && er.StatusCode == http.StatusNotFound {
			return explained(err, "repository %s not found on %s (check the name: cairn ls %s/REPO lists a repository's versions)", ref.Repository, ref.Registry, ref.Registry)
		}
		return err
	}
	what := fmt.Sprintf("tag %q", ref.Reference)
	if r.ByDigest() {
		what = "manifest " + ref.Reference
	}
	if len(tags) == 0 {
		return explained(err, "%s not found in %s, which has no tags", what, where)
	}
	slices.Sort(tags)
	list := strings.Join(tags, ", ")
	if more {
		list += fmt.Sprintf(", ... (cairn ls %s lists them all)", where)
	}
	return explained(err, "%s not found in %s; its tags: %s", what, where, list)
}

var errStop = errors.New("stop")

// errHost is the host a failed request went to.
func errHost(err error) string {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) && er.URL != nil {
		return er.URL.Host
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return u.Host
		}
	}
	var se *StatusError
	if errors.As(err, &se) {
		if u, perr := url.Parse(se.URL); perr == nil {
			return u.Host
		}
	}
	return "the registry"
}

// deniedScope reads the scope a 403 names: cairn's (and distribution's)
// DENIED error carries [{type, name, actions}] as its detail.
func deniedScope(er *errcode.ErrorResponse) (action, repo string, ok bool) {
	for _, e := range er.Errors {
		list, _ := e.Detail.([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			name, _ := m["name"].(string)
			acts, _ := m["actions"].([]any)
			var as []string
			for _, a := range acts {
				if s, ok := a.(string); ok {
					as = append(as, s)
				}
			}
			if name != "" && len(as) > 0 {
				return strings.Join(as, ","), name, true
			}
		}
	}
	return "", "", false
}

// roleFor is the role of cairn access that allows action.
func roleFor(action string) string {
	switch {
	case strings.Contains(action, "delete"):
		return "admin"
	case strings.Contains(action, "push"):
		return "write"
	}
	return "read"
}

// userAt is the user whose credential went to host: the environment's, or
// the credential store's, or "anonymous".
func userAt(host string) string {
	if c, ok := EnvCredential(); ok {
		return c.Username
	}
	if store, err := CredentialStore(); err == nil {
		if c, err := store.Get(context.Background(), host); err == nil {
			if c.Username != "" {
				return c.Username
			}
			if c.RefreshToken != "" || c.AccessToken != "" {
				return "the stored token"
			}
		}
	}
	return "anonymous"
}

func isCertError(err error) bool {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cv)
}

// certCause is the certificate problem, without the URL around it.
func certCause(err error) error {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return cv.Err
	}
	return err
}
