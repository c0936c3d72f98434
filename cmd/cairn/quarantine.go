package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

type quarantineOptions struct {
	remoteOptions
	reason string
	undo   bool
	list   bool
	asJSON bool
}

func newQuarantineCmd() *cobra.Command {
	var o quarantineOptions
	cmd := &cobra.Command{
		Use:   "quarantine REF --reason TEXT | REF --undo | REPO --list",
		Short: "Refuse every pull of a version, with a reason (and lift it)",
		Long: `Quarantine the version REF resolves to: the registry answers its pulls with
403 DENIED and the reason, by tag or by digest, and cairn verify, cairn run
and cairn pull refuse it (exit 1). Other versions of the repository are not
affected. Blobs stay readable by digest (they may be shared with versions
that are not quarantined); the version itself cannot be pulled.

--undo lifts the quarantine; --list shows a repository's quarantined
versions. Changing a quarantine needs the admin role when the registry has
authentication on.`,
		Example: `  cairn quarantine 127.0.0.1:5000/models/llama:v1 --reason "CVE-2026-0001: pickle payload in tokenizer"
  cairn quarantine 127.0.0.1:5000/models/llama@sha256:4f1c... --undo
  cairn quarantine 127.0.0.1:5000/models/llama --list`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuarantine(cmd, o, args[0])
		},
	}
	o.remoteOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "", "why the version is quarantined (shown to everyone who tries to pull it)")
	f.BoolVar(&o.undo, "undo", false, "lift the quarantine")
	f.BoolVar(&o.list, "list", false, "list the repository's quarantined versions")
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	return cmd
}

func runQuarantine(cmd *cobra.Command, o quarantineOptions, refStr string) error {
	ctx := cmd.Context()
	modes := 0
	for _, b := range []bool{o.reason != "", o.undo, o.list} {
		if b {
			modes++
		}
	}
	if modes != 1 {
		return errors.New("give exactly one of --reason TEXT, --undo and --list")
	}
	repo, _, err := o.repository(refStr)
	if err != nil {
		return err
	}
	base := o.baseURL(repo.Reference.Registry) + "/v2/" + repo.Reference.Repository + "/_cairn/quarantine"
	if o.list {
		body, err := o.call(ctx, http.MethodGet, base, nil)
		if err != nil {
			return err
		}
		var qs []storage.Quarantine
		if err := json.Unmarshal(body, &qs); err != nil {
			return fmt.Errorf("decode quarantines: %w", err)
		}
		if o.asJSON {
			return json.NewEncoder(cmd.OutOrStdout()).Encode(qs)
		}
		if len(qs) == 0 {
			fmt.Fprintln(cmd.OutOrStdout(), "no quarantined versions")
			return nil
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DIGEST\tSINCE\tBY\tREASON")
		for _, q := range qs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", q.Digest, q.Time.UTC().Format("2006-01-02T15:04:05Z"), clean(q.By), clean(q.Reason))
		}
		return tw.Flush()
	}
	if repo.Reference.Reference == "" {
		return fmt.Errorf("%s: name a tag or digest", refStr)
	}
	d, err := resolveEvenIfQuarantined(ctx, &o.remoteOptions, repo)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", refStr, err)
	}
	u := base + "?digest=" + url.QueryEscape(d.String())
	name := repo.Reference.Registry + "/" + repo.Reference.Repository + "@" + d.String()
	if o.undo {
		if _, err := o.call(ctx, http.MethodDelete, u, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "released %s\n", name)
		return nil
	}
	b, _ := json.Marshal(map[string]string{"reason": o.reason})
	if _, err := o.call(ctx, http.MethodPut, u, b); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "quarantined %s: %s\n", name, o.reason)
	fmt.Fprintln(cmd.OutOrStdout(), d)
	return nil
}

// resolveEvenIfQuarantined resolves a tag or digest; a quarantined version
// answers 403 to a HEAD, so a tag is then looked up in the versions list.
func resolveEvenIfQuarantined(ctx context.Context, ro *remoteOptions, repo *remote.Repository) (digest.Digest, error) {
	ref := repo.Reference.Reference
	if d, err := digest.Parse(ref); err == nil {
		return d, nil
	}
	desc, err := repo.Resolve(ctx, ref)
	if err == nil {
		return desc.Digest, nil
	}
	if !isDenied(err) {
		return "", err
	}
	body, ok, verr := getExtension(ctx, ro, repo, "versions", maxVersionsResponse)
	if verr != nil || !ok {
		return "", err
	}
	var vs []registry.Version
	if json.Unmarshal(body, &vs) != nil {
		return "", err
	}
	for _, v := range vs {
		for _, t := range v.Tags {
			if t == ref {
				return v.Digest, nil
			}
		}
	}
	return "", err
}

// call sends a request to a cairn extension endpoint and returns the body
// of a 2xx answer, or the registry's error message.
func (o *remoteOptions) call(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			return nil, fmt.Errorf("%s %s: %s: %s", method, u, e.Errors[0].Code, e.Errors[0].Message)
		}
		return nil, fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return b, nil
}

// isDenied reports whether a registry answered 403: a quarantined
// version, a pull the server's policy refuses, or a missing permission.
func isDenied(err error) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusForbidden
}
