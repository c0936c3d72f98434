package auth

import (
	"fmt"
	"slices"
	"strings"

	"cairn.dev/cairn/registry"
)

// Resource types and actions of docker scopes
// (repository:NAME:ACTIONS, registry:catalog:*).
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"

	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*"
)

// Names of the registry-wide resources (type "registry").
const (
	// ResourceCatalog is GET /v2/_catalog, which lists only the
	// repositories the caller may pull.
	ResourceCatalog = "catalog"
	// ResourceAdmin is the admin API (/_cairn/admin/...): users and grants.
	ResourceAdmin = "admin"
	// ResourceTokens is the API token API (/_cairn/tokens): a user's own
	// tokens.
	ResourceTokens = "tokens"
	// ResourceMetrics is GET /metrics, the Prometheus metrics: for
	// administrators, or an API token of one whose scopes include
	// registry:metrics:* (the credential to give a Prometheus server).
	ResourceMetrics = "metrics"
)

// Limits on scopes a client sends.
const (
	// MaxScopeLength bounds one scope string.
	MaxScopeLength = 512
	// MaxScopes bounds the scopes of one token request or API token.
	MaxScopes = 32
)

// Access is one entry of a docker scope: a resource and actions on it. It is
// also the "access" claim of the tokens this package issues.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// String formats a as a scope string, TYPE:NAME:ACTION[,ACTION].
func (a Access) String() string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

// Allows reports whether a grants action on the resource typ/name exactly.
func (a Access) Allows(typ, name, action string) bool {
	return a.Type == typ && a.Name == name && slices.Contains(a.Actions, action)
}

// ParseScope parses one scope string. The type is what comes before the
// first colon (a resource class in parentheses, as in
// "repository(plugin)", is dropped), the actions what comes after the
// last, and the name everything between. A repository name may be a
// pattern (see ValidPattern) when patterns is true, else it must be a valid
// repository name. Actions are pull, push, delete or "*" (which means all
// three) for repositories, and "*" for the registry resources catalog,
// admin, tokens and metrics. The actions are returned sorted, without duplicates.
func ParseScope(s string, patterns bool) (Access, error) {
	if len(s) > MaxScopeLength {
		return Access{}, fmt.Errorf("%w: longer than %d bytes", ErrScopeInvalid, MaxScopeLength)
	}
	typ, rest, ok1 := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok1 || i < 0 {
		return Access{}, fmt.Errorf("%w: %q is not TYPE:NAME:ACTIONS", ErrScopeInvalid, clip(s))
	}
	name, acts := rest[:i], rest[i+1:]
	if j := strings.IndexByte(typ, '('); j >= 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:j]
	}
	a := Access{Type: typ, Name: name}
	for act := range strings.SplitSeq(acts, ",") {
		switch {
		case act == ActionAll && typ == TypeRepository:
			a.Actions = append(a.Actions, ActionDelete, ActionPull, ActionPush)
		case act == ActionAll, act == ActionPull, act == ActionPush, act == ActionDelete:
			a.Actions = append(a.Actions, act)
		default:
			return Access{}, fmt.Errorf("%w: unknown action %q in %q", ErrScopeInvalid, clip(act), clip(s))
		}
	}
	slices.Sort(a.Actions)
	a.Actions = slices.Compact(a.Actions)
	switch typ {
	case TypeRepository:
		if slices.Contains(a.Actions, ActionAll) {
			return Access{}, fmt.Errorf("%w: %q", ErrScopeInvalid, clip(s))
		}
		if patterns && !ValidPattern(name) || !patterns && !registry.ValidName(name) {
			return Access{}, fmt.Errorf("%w: invalid repository name %q", ErrScopeInvalid, clip(name))
		}
	case TypeRegistry:
		if name != ResourceCatalog && name != ResourceAdmin && name != ResourceTokens && name != ResourceMetrics {
			return Access{}, fmt.Errorf("%w: unknown registry resource %q", ErrScopeInvalid, clip(name))
		}
		if !slices.Equal(a.Actions, []string{ActionAll}) {
			return Access{}, fmt.Errorf("%w: the registry resources take the action *", ErrScopeInvalid)
		}
	default:
		return Access{}, fmt.Errorf("%w: unknown resource type %q", ErrScopeInvalid, clip(typ))
	}
	return a, nil
}

// ParseScopes parses scope parameters, each of which may hold several
// scopes separated by spaces (the OAuth2 form). Entries for the same
// resource are merged. More than MaxScopes entries are refused.
func ParseScopes(params []string, patterns bool) ([]Access, error) {
	var out []Access
	n := 0
	for _, p := range params {
		for s := range strings.FieldsSeq(p) {
			if n++; n > MaxScopes {
				return nil, fmt.Errorf("%w: more than %d scopes", ErrScopeInvalid, MaxScopes)
			}
			a, err := ParseScope(s, patterns)
			if err != nil {
				return nil, err
			}
			out = mergeAccess(out, a)
		}
	}
	return out, nil
}

// mergeAccess adds a to list, merging its actions into an entry for the
// same resource.
func mergeAccess(list []Access, a Access) []Access {
	for i := range list {
		if list[i].Type == a.Type && list[i].Name == a.Name {
			acts := append(slices.Clone(list[i].Actions), a.Actions...)
			slices.Sort(acts)
			list[i].Actions = slices.Compact(acts)
			return list
		}
	}
	return append(list, Access{Type: a.Type, Name: a.Name, Actions: slices.Clone(a.Actions)})
}

// scopeString joins accesses into a space-separated scope parameter.
func scopeString(list []Access) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.String()
	}
	return strings.Join(parts, " ")
}

// clip keeps echoed client input short in error messages.
func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
