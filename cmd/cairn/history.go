package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/storage"
)

// maxHistoryResponse bounds the history answer a server may send.
const maxHistoryResponse = 64 << 20

func newHistoryCmd() *cobra.Command {
	var (
		ro     remoteOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "history REF",
		Short: "Print every move of a tag: old digest, new digest, time, who",
		Long: `Print every move of a tag, oldest first: when it was created, moved to another
digest or deleted, and by whom. Without a tag (REGISTRY/REPO) it prints the
moves of every tag of the repository.`,
		Example: `  cairn history 127.0.0.1:5000/models/llama:v1
  cairn history 127.0.0.1:5000/models/llama --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			u := ro.baseURL(ref.Registry) + "/v2/" + ref.Repository + "/_cairn/history"
			if ref.Reference != "" {
				if ref.ValidateReferenceAsTag() != nil {
					return fmt.Errorf("%s: history needs a tag, not a digest", args[0])
				}
				u += "?tag=" + url.QueryEscape(ref.Reference)
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := ro.client().Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxHistoryResponse))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s: %s", args[0], resp.Status, body)
			}
			var moves []storage.TagMove
			if err := json.Unmarshal(body, &moves); err != nil {
				return fmt.Errorf("decode history: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(moves)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tTAG\tFROM\tTO\tBY")
			for _, m := range moves {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Time.Format("2006-01-02T15:04:05Z"), m.Tag, orDash(string(m.Old)), orDash(string(m.New)), m.By)
			}
			return tw.Flush()
		},
	}
	ro.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
