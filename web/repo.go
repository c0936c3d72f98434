package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// Bounds of the repository page.
const (
	// versionsPerPage is how many versions a repository page shows.
	versionsPerPage = 25
	// movesPerPage is how many tag moves the timeline shows before
	// "all moves" is asked for; maxMoves bounds that.
	movesPerPage = 30
	maxMoves     = 5_000
	// maxPage bounds ?page=.
	maxPage = 1_000_000
)

// versionRow is one version on a repository page.
type versionRow struct {
	*version
	Verdict      *verdict
	Signatures   int
	Attestations int
	Quarantine   *storage.Quarantine
	// Version is the config's descriptor.version.
	Version string
	// Previous is the version pushed before this one.
	Previous digest.Digest
}

// timelineMove is one move of the merged tag timeline.
type timelineMove struct {
	storage.TagMove
	// Current is true for the tag's latest move.
	Current bool
}

// fixedTag is a tag that was set once and never moved.
type fixedTag struct {
	Tag    string
	Digest digest.Digest
	Move   storage.TagMove
}

// sortOrder is a way of ordering the versions.
type sortOrder struct {
	Key, Label string
}

var versionSorts = []sortOrder{{"time", "newest first"}, {"time-asc", "oldest first"}, {"size", "largest first"}, {"size-asc", "smallest first"}, {"tag", "by tag"}}

type repoPage struct {
	Name     string
	Host     string
	Crumbs   []crumb
	Versions []versionRow
	Total    int
	Page     int
	Pages    int
	Sort     string
	Sorts    []sortOrder
	// Moves is the merged tag timeline, newest first (tags that moved).
	Moves     []timelineMove
	MoreMoves int
	AllMoves  bool
	// Fixed are the tags set once and never moved.
	Fixed    []fixedTag
	Tags     int
	Pulls    int
	HasPulls bool
}

// crumb is one element of a repository name, linked to its namespace.
type crumb struct {
	Name, Href string
}

// crumbsOf links each namespace of repo: team-a/sub/model gives team-a and
// team-a/sub.
func crumbsOf(repo string) []crumb {
	var out []crumb
	for i := 0; i < len(repo); i++ {
		if repo[i] == '/' {
			out = append(out, crumb{Name: repo[strings.LastIndexByte(repo[:i], '/')+1 : i], Href: repoURL(repo[:i])})
		}
	}
	return out
}

// repoQuery reads and checks the repository page's parameters.
func repoQuery(c echo.Context) (sortKey string, pageNo int, all bool, err error) {
	sortKey, pageNo = "time", 1
	if s := c.QueryParam("sort"); s != "" {
		if !slices.ContainsFunc(versionSorts, func(o sortOrder) bool { return o.Key == s }) {
			keys := make([]string, len(versionSorts))
			for i, o := range versionSorts {
				keys[i] = o.Key
			}
			return "", 0, false, &Error{Code: http.StatusBadRequest, Msg: fmt.Sprintf("Bad request: ?sort= must be one of %s.", strings.Join(keys, ", "))}
		}
		sortKey = s
	}
	if s := c.QueryParam("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return "", 0, false, &Error{Code: http.StatusBadRequest, Msg: "Bad request: ?page= must be a page number, 1 or more."}
		}
		pageNo = n
	}
	switch c.QueryParam("moves") {
	case "":
	case "all":
		all = true
	default:
		return "", 0, false, &Error{Code: http.StatusBadRequest, Msg: "Bad request: ?moves= may only be \"all\"."}
	}
	return sortKey, pageNo, all, nil
}

func (u *UI) repoPage(c echo.Context, name string) error {
	ctx := c.Request().Context()
	if !viewerOf(c).canRead(name) {
		return u.namespace(c, name)
	}
	sortKey, pageNo, allMoves, err := repoQuery(c)
	if err != nil {
		return err
	}
	vs, err := u.repoVersions(ctx, name)
	if errors.Is(err, storage.ErrNameUnknown) {
		return u.namespace(c, name)
	}
	if err != nil {
		return err
	}
	host := u.policyHost(c.Request())
	p := repoPage{Name: name, Host: host, Crumbs: crumbsOf(name), Total: len(vs), Sort: sortKey, Sorts: versionSorts, AllMoves: allMoves}
	previous := map[digest.Digest]digest.Digest{}
	for i, v := range vs {
		if i+1 < len(vs) {
			previous[v.M.Digest] = vs[i+1].M.Digest
		}
	}
	sortVersions(vs, sortKey)
	p.Pages = max(1, (len(vs)+versionsPerPage-1)/versionsPerPage)
	if pageNo > p.Pages {
		return &Error{Code: http.StatusNotFound, Msg: fmt.Sprintf("Not found: this repository has %d pages of versions.", p.Pages)}
	}
	p.Page = pageNo
	shown := vs[(pageNo-1)*versionsPerPage : min(len(vs), pageNo*versionsPerPage)]
	quarantined := map[digest.Digest]*storage.Quarantine{}
	if u.quar != nil {
		qs, err := u.quar.ListQuarantines(ctx, name)
		if err != nil {
			return err
		}
		for i := range qs {
			quarantined[qs[i].Digest] = &qs[i]
		}
	}
	for _, v := range shown {
		vd, err := u.verdictOf(ctx, host, name, v.M, v.Referrers, quarantined[v.M.Digest])
		if err != nil {
			return err
		}
		sigs, atts := v.signatures()
		p.Versions = append(p.Versions, versionRow{version: v.sized(), Verdict: vd, Signatures: sigs, Attestations: atts,
			Quarantine: quarantined[v.M.Digest], Version: u.descriptorVersion(ctx, v.M), Previous: previous[v.M.Digest]})
	}
	moves, err := u.cfg.Meta.History(ctx, name, "")
	if err != nil {
		return err
	}
	p.Moves, p.Fixed, p.Tags = timeline(moves)
	limit := movesPerPage
	if allMoves {
		limit = maxMoves
	}
	if len(p.Moves) > limit {
		p.MoreMoves = len(p.Moves) - limit
		p.Moves = p.Moves[:limit]
	}
	if u.pulls != nil {
		if pulls, _, _ := u.pulls.get(ctx, pullsWait); pulls != nil {
			p.Pulls, p.HasPulls = pulls[name], true
		}
	}
	return u.render(c, http.StatusOK, "repo", name, p)
}

// sortVersions orders versions (newest first already) by key; ties keep
// the time order.
func sortVersions(vs []*version, key string) {
	switch key {
	case "time-asc":
		slices.Reverse(vs)
	case "size", "size-asc":
		for _, v := range vs {
			v.sized()
		}
		slices.SortStableFunc(vs, func(a, b *version) int {
			if key == "size" {
				return cmp.Compare(b.Size, a.Size)
			}
			return cmp.Compare(a.Size, b.Size)
		})
	case "tag":
		// Tagged versions by their first tag, then untagged ones.
		slices.SortStableFunc(vs, func(a, b *version) int {
			switch {
			case len(a.Tags) == 0 && len(b.Tags) == 0:
				return 0
			case len(a.Tags) == 0:
				return 1
			case len(b.Tags) == 0:
				return -1
			}
			return naturalCompare(a.Tags[0], b.Tags[0])
		})
	}
}

// naturalCompare orders strings with runs of digits by their value, so
// that v2 comes before v10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// timeline merges the history of every tag (oldest first, as History
// returns it) into one list, newest first, of the moves of tags that
// moved or were deleted; tags set once and never moved are returned apart,
// by tag.
func timeline(moves []storage.TagMove) (moved []timelineMove, fixed []fixedTag, tags int) {
	count := map[string]int{}
	last := map[string]int{}
	for i, m := range moves {
		count[m.Tag]++
		last[m.Tag] = i
	}
	for i, m := range moves {
		if count[m.Tag] == 1 && m.Old == "" && m.New != "" {
			fixed = append(fixed, fixedTag{Tag: m.Tag, Digest: m.New, Move: m})
			continue
		}
		moved = append(moved, timelineMove{TagMove: m, Current: last[m.Tag] == i && m.New != ""})
	}
	slices.Reverse(moved)
	slices.SortStableFunc(moved, func(a, b timelineMove) int { return b.Time.Compare(a.Time) })
	slices.SortFunc(fixed, func(a, b fixedTag) int { return naturalCompare(a.Tag, b.Tag) })
	return moved, fixed, len(count)
}

// descriptorVersion is a ModelPack config's descriptor.version; "" when
// there is none.
func (u *UI) descriptorVersion(ctx context.Context, m *storage.Manifest) string {
	if cs := u.configSummaryOf(ctx, m); cs != nil {
		return cs.Version
	}
	return ""
}
