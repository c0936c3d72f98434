package auth

import (
	"cairn.dev/cairn/registry/storage"
)

// roleRank orders the roles: each implies the ones ranked below it.
func roleRank(role string) int {
	switch role {
	case storage.RoleRead:
		return 1
	case storage.RoleWrite:
		return 2
	case storage.RoleAdmin:
		return 3
	}
	return 0
}

// ValidRole reports whether role is read, write or admin.
func ValidRole(role string) bool { return roleRank(role) > 0 }

// actionRank is the rank of the role an action on a repository needs: pull
// needs read, push write, delete admin.
func actionRank(action string) int {
	switch action {
	case ActionPull:
		return 1
	case ActionPush:
		return 2
	case ActionDelete:
		return 3
	}
	return 99
}

// grantSet is a user's grants, ready to evaluate.
type grantSet []storage.Grant

// rank returns the highest role rank the grants give on repo.
func (gs grantSet) rank(repo string) int {
	best := 0
	for _, g := range gs {
		if r := roleRank(g.Role); r > best && Match(g.Pattern, repo) {
			best = r
		}
	}
	return best
}

// admin reports whether the grants include admin on "**", which makes the
// user an administrator of the registry (users, grants, every token).
func (gs grantSet) admin() bool {
	for _, g := range gs {
		if g.Pattern == "**" && g.Role == storage.RoleAdmin {
			return true
		}
	}
	return false
}
