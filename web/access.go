package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// accessRow is one access record as the page shows it: what was asked
// (Action) apart from how it ended (Result), why a refusal was refused,
// and what the viewer may follow.
type accessRow struct {
	storage.AccessRecord
	// Readable is true when the record's repository may be linked.
	Readable bool
	// Shown is the action the request asked for: the record's own, or, for
	// a "denied" record, the action its request would have been (pull,
	// push, delete, list...), read from the method and path in Detail.
	Shown string
	// Known is false for an action this UI does not know (written by a
	// newer server): it is shown as it is, without a filter link class.
	Known bool
	// Reason is the kind of refusal (scope, credentials, policy,
	// quarantine) for records that were not ok.
	Reason string
	// VersionURL links the version the record names, only when it names
	// a manifest (never a blob) that still exists.
	VersionURL string
	// Challenge is true for an anonymous 401: the challenge that starts a
	// client's authentication, folded unless asked for.
	Challenge bool
}

type accessPage struct {
	Available bool
	Filter    storage.AccessFilter
	// Challenges shows anonymous 401 challenges (folded by default).
	Challenges bool
	// Folded counts the challenges left out of this page.
	Folded    int
	Rows      []accessRow
	Next      string
	Stopped   bool
	Chain     storage.AccessChainState
	ChainAt   time.Time
	Verifying bool
	Actions   []string
	Results   []string
	Admin     bool
	// Problems are the query parameters refused, for people.
	Problems []string
}

var accessActions = []string{storage.ActionPull, storage.ActionDownload, storage.ActionPush, storage.ActionDelete, storage.ActionCatalog, "list",
	storage.ActionLogin, storage.ActionToken, storage.ActionAdmin, storage.ActionQuarantine, storage.ActionPrune, storage.ActionDropped, storage.ActionDenied}

var accessResults = []string{storage.ResultOK, storage.ResultDenied, storage.ResultRefused, storage.ResultFailed}

// actionPattern is what an action parameter may be: the known ones, and
// any other short lower-case word (a newer server's).
var actionPattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,31}$`)

// accessQuery reads and checks the access log's query parameters; the
// problems are said in words for the page.
func accessQuery(c echo.Context) (f storage.AccessFilter, challenges bool, problems []string) {
	get := func(name string) string {
		s := strings.TrimSpace(c.QueryParam(name))
		if len(s) > maxQuery || !utf8.ValidString(s) {
			problems = append(problems, fmt.Sprintf("%s: at most %d bytes of UTF-8 text.", name, maxQuery))
			return ""
		}
		return s
	}
	f.Repository, f.Principal, f.Action, f.Result = get("repository"), get("principal"), get("action"), get("result")
	if f.Repository != "" && !registry.ValidName(f.Repository) {
		problems = append(problems, fmt.Sprintf("repository: %q is not a repository name (lower-case path elements such as team/model).", f.Repository))
		f.Repository = ""
	}
	if f.Action != "" && !actionPattern.MatchString(f.Action) {
		problems = append(problems, fmt.Sprintf("action: %q is not an action; choose one of %s.", f.Action, strings.Join(accessActions, ", ")))
		f.Action = ""
	}
	if f.Result != "" && !slices.Contains(accessResults, f.Result) {
		problems = append(problems, fmt.Sprintf("result: %q is not a result; choose one of %s.", f.Result, strings.Join(accessResults, ", ")))
		f.Result = ""
	}
	if s := c.QueryParam("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			problems = append(problems, fmt.Sprintf("before: %q is not a record number (seq); the pager's links set it.", clip(s)))
		} else {
			f.Before = n
		}
	}
	switch c.QueryParam("challenges") {
	case "", "fold":
	case "show":
		challenges = true
	default:
		problems = append(problems, "challenges: only \"show\" or \"fold\".")
	}
	return f, challenges, problems
}

// shownAction is the action a record's request asked for: a "denied"
// record names its request in Detail ("GET /v2/NAME/manifests/REF ..."),
// which is a pull, push, delete or list like any other.
func shownAction(r *storage.AccessRecord) (action string, manifest bool) {
	if r.Action != storage.ActionDenied {
		switch r.Action {
		case storage.ActionPull, storage.ActionDownload, storage.ActionPush:
			return r.Action, true
		case storage.ActionDelete:
			return r.Action, r.Reference != "" // a blob's delete names no reference
		}
		return r.Action, false
	}
	method, rest, ok := strings.Cut(r.Detail, " ")
	if !ok {
		return storage.ActionDenied, false
	}
	path, _, _ := strings.Cut(rest, " ")
	path = strings.TrimSuffix(path, ":")
	rt, ok := registry.ParseRoute(path)
	if !ok {
		if strings.HasPrefix(path, "/_cairn/admin") || strings.Contains(path, "/_cairn/admin") {
			return storage.ActionAdmin, false
		}
		return storage.ActionDenied, false
	}
	switch {
	case rt.Kind == "manifest" && (method == http.MethodGet || method == http.MethodHead):
		return storage.ActionPull, true
	case rt.Kind == "blob" && (method == http.MethodGet || method == http.MethodHead):
		return storage.ActionPull, false
	case method == http.MethodDelete:
		return storage.ActionDelete, rt.Kind == "manifest"
	case rt.Kind == "manifest" || rt.Kind == "uploads" || rt.Kind == "upload" || method == http.MethodPut || method == http.MethodPost || method == http.MethodPatch:
		return storage.ActionPush, rt.Kind == "manifest"
	case rt.Kind == "catalog":
		return storage.ActionCatalog, false
	case rt.Kind == "tags":
		return "list", false
	}
	return storage.ActionDenied, false
}

// refusalKind names why a record that is not ok was refused.
func refusalKind(r *storage.AccessRecord) string {
	if r.Result == storage.ResultOK {
		return ""
	}
	d := strings.ToLower(r.Detail)
	switch {
	case strings.Contains(d, "quarantined"):
		return "quarantine"
	case strings.Contains(d, "policy"):
		return "policy"
	case r.Status == http.StatusUnauthorized || r.Action == storage.ActionLogin:
		return "credentials"
	case strings.Contains(d, " needs "):
		return "scope"
	case r.Status == http.StatusForbidden:
		return "permission"
	case r.Result == storage.ResultFailed:
		return "error"
	}
	return ""
}

// accessLog shows the access log newest first, filtered, 100 records a
// page (?before=SEQ pages back), with the hash chain's state. Viewers who
// are not admins see only the records of repositories they may read, and
// their own. Anonymous 401 challenges are folded unless ?challenges=show.
// The action filter matches the action a request asked for, so
// action=pull&result=denied finds refused pulls.
func (u *UI) accessLog(c echo.Context) error {
	ctx := c.Request().Context()
	v := viewerOf(c)
	p := accessPage{Available: u.access != nil, Actions: accessActions, Results: accessResults, Admin: v.Admin}
	if u.access == nil {
		return u.render(c, http.StatusOK, "access", "Access log", p)
	}
	f, challenges, problems := accessQuery(c)
	p.Filter, p.Challenges = f, challenges
	if len(problems) > 0 {
		p.Problems = problems
		return u.render(c, http.StatusBadRequest, "access", "Access log", p)
	}
	walk := f
	walk.Action = "" // matched on the shown action below
	if f.Action != "" && f.Action != storage.ActionDenied && f.Action != storage.ActionPull && f.Action != storage.ActionPush &&
		f.Action != storage.ActionDelete && f.Action != storage.ActionCatalog && f.Action != storage.ActionAdmin && f.Action != "list" {
		walk.Action = f.Action // never the action of a denied record
	}
	examined, lastSeen := 0, uint64(0)
	exists := map[string]bool{}
	err := u.access.Access(ctx, walk, func(r storage.AccessRecord) error {
		examined++
		lastSeen = r.Seq
		if examined > maxAccessExamined {
			p.Stopped = true
			return errStop
		}
		readable := r.Repository != "" && v.canRead(r.Repository)
		if !v.Admin && !readable && r.Principal != v.Principal {
			return nil
		}
		shown, manifest := shownAction(&r)
		if f.Action != "" && shown != f.Action && r.Action != f.Action {
			return nil
		}
		row := accessRow{AccessRecord: r, Readable: readable, Shown: shown, Known: slices.Contains(accessActions, shown),
			Reason: refusalKind(&r), Challenge: r.Status == http.StatusUnauthorized && r.Principal == "anonymous"}
		if row.Challenge && !challenges {
			p.Folded++
			return nil
		}
		if len(p.Rows) == accessPerPage {
			p.Next = accessURL(append(filterPairs(f, challenges), "before", strconv.FormatUint(p.Rows[len(p.Rows)-1].Seq, 10))...)
			return errStop
		}
		if readable && manifest && r.Digest != "" {
			row.VersionURL = u.versionLink(ctx, exists, r.Repository, r.Digest)
		}
		p.Rows = append(p.Rows, row)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	if p.Stopped {
		p.Next = accessURL(append(filterPairs(f, challenges), "before", strconv.FormatUint(lastSeen, 10))...)
	}
	var ok bool
	p.Chain, p.ChainAt, ok = u.chain.get(ctx, chainWait)
	p.Verifying = !ok && p.ChainAt.IsZero()
	return u.render(c, http.StatusOK, "access", "Access log", p)
}

// filterPairs are the access log's filter parameters as name, value pairs.
func filterPairs(f storage.AccessFilter, challenges bool) []string {
	kv := []string{"repository", f.Repository, "principal", f.Principal, "action", f.Action, "result", f.Result}
	if challenges {
		kv = append(kv, "challenges", "show")
	}
	return kv
}

// versionLink is the page of repo@d when that manifest exists and is a
// version page the UI shows; "" otherwise (deleted, or never stored).
func (u *UI) versionLink(ctx context.Context, exists map[string]bool, repo string, d digest.Digest) string {
	key := repo + "@" + string(d)
	ok, seen := exists[key]
	if !seen {
		_, err := u.cfg.Meta.Manifest(ctx, repo, d)
		ok = err == nil
		exists[key] = ok
	}
	if !ok {
		return ""
	}
	return versionURL(repo, d)
}
