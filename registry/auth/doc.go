// Package auth authenticates and authorizes requests to cairn serve: the
// docker token flow in front of the registry API, users with roles per
// repository pattern, API tokens, failed-login throttling, the admin API,
// and the security headers of every response. The registry package knows
// nothing of it: Auth.Wrap sits in front of the registry handler and sets
// registry.WithPrincipal, which tag history and the access log read.
//
// # The token flow
//
// A request without credentials gets 401 with
//
//	WWW-Authenticate: Bearer realm="<scheme>://<host>/token",service="<host>",scope="repository:NAME:pull,push"
//
// naming the scope the request needs (push requests ask for pull too;
// a mount adds repository:FROM:pull; the catalog registry:catalog:*). The
// realm, GET /token with Basic credentials or POST /token with the OAuth2
// password or refresh_token grant, answers a bearer token carrying the
// subset of the asked scope that the caller's roles allow now, never more.
// The password may be an API token, with any user name. Basic credentials
// are also accepted directly on /v2/, and an API token as a bearer token. A request whose credentials are valid
// but not enough gets 401 with error="insufficient_scope" when a new token
// could grant it (the client then asks for one), else 403 DENIED.
//
// # Security choices
//
//   - Passwords are hashed with bcrypt (cost 10, golang.org/x/crypto),
//     8 to 72 bytes (bcrypt's limit: longer passwords are refused, not cut).
//     A login naming an unknown user compares against a dummy hash, so
//     timing does not tell which names exist.
//   - Bearer tokens are JWTs signed with HMAC-SHA256 (go-jose v4, already a
//     dependency of sigstore-go, so no new module; verification accepts
//     HS256 only, so neither "none" nor an algorithm chosen by the token is
//     possible) under a 256-bit key kept in the accounts store, so every
//     node verifies what any node issued. They live 5 minutes, are checked
//     with no clock leeway, and are refused once their user or API token
//     is gone: every request also checks the user's current grants, so a
//     token never outlives a revoked role.
//   - API tokens are cairn_<id>_<secret>, a 256-bit random secret; only
//     their SHA-256 is stored (nothing to brute-force at 256 bits), they are
//     shown once, and they are bounded by their scopes (repository patterns
//     such as repository:team-a/*:pull, and registry:catalog:*) and by their
//     owner's roles at the time of use. They cannot create API tokens.
//   - Refresh tokens (on request, access_type=offline) are signed the same
//     way, live 30 days, and die with a password change, the user or the
//     API token.
//   - Credential checks are cached: a verified password or API token for a
//     minute, keyed by SHA-256 of a per-process random key, the user name and
//     the password (the cache holds nothing worth attacking offline); a
//     verified bearer token until it expires; users, grants and tokens until
//     they change (the admin API drops the caches; other nodes notice the
//     accounts revision within a second). So a request with a valid token
//     costs map lookups, not a bcrypt or a signature.
//   - Failed logins are throttled (golang.org/x/time/rate token buckets,
//     see Throttle) so that guessing is slow and no one can be locked
//     out: per user name from one client address and per address, a spent
//     budget answers that address 429 with Retry-After without checking
//     the password (checked before the credential cache, so a refused
//     address cannot tell a right guess from a wrong one); per user name
//     across addresses, a spent budget only delays logins, by up to a
//     second. Bearer tokens and web sessions are never throttled.
//     Forwarding headers are not trusted: behind a proxy every client
//     shares the proxy's address.
//   - Web UI sessions are records in the accounts store (StartSession,
//     Session, EndSession): the cookie carries a 256-bit secret, the store
//     its SHA-256 and a stamp of the user's password and roles. Logout,
//     a password or role change, the user's deletion and the admin API end
//     them on every node (each caches a session SessionCacheTTL at most).
//   - /metrics needs registry:metrics:* (administrators, or their API
//     tokens with that scope), so that request counts and runtime details
//     are not public.
//   - Roles: read (pull), write (push) and admin (delete), each implying
//     the ones before, per repository pattern ("*" within one path element,
//     "**" across any number of them). Admin on "**" makes a user an
//     administrator of the registry: the admin API, every user's tokens.
//     The last such administrator cannot be removed.
//   - Blobs are linked per repository: the registry never serves a blob
//     through a repository it was not pushed or mounted into, and a mount
//     from another repository needs pull there (without it the mount
//     becomes a plain upload). Anonymous mounts (no from) are never done
//     with auth on: they could copy a blob out of any repository.
//   - The catalog lists only the repositories the caller may pull, and the
//     lineage endpoint drops edges into repositories the caller may not
//     pull.
//   - Every response carries X-Content-Type-Options: nosniff,
//     Referrer-Policy: no-referrer and X-Frame-Options: DENY; API paths a
//     Content-Security-Policy that allows nothing; the token endpoint and
//     the admin API Cache-Control: no-store; and with TLS,
//     Strict-Transport-Security.
//
// # Admin API
//
// JSON under /_cairn/admin (registry:admin:*, that is admin on "**"):
//
//	GET    /_cairn/admin/users                  {"users":[UserInfo...]}
//	POST   /_cairn/admin/users                  NewUser -> 201 UserInfo
//	DELETE /_cairn/admin/users/NAME             204 (grants and tokens go too)
//	PUT    /_cairn/admin/users/NAME/password    NewPassword -> 204
//	GET    /_cairn/admin/grants[?user=U]        {"grants":[GrantInfo...]}
//	PUT    /_cairn/admin/grants                 GrantInfo -> 200 GrantInfo
//	DELETE /_cairn/admin/grants?user=U&pattern=P  204
//	GET    /_cairn/admin/sessions[?user=U]      {"sessions":[SessionInfo...]} (live ones)
//	DELETE /_cairn/admin/sessions?user=U        200 RevokedSessions (every session of U)
//	DELETE /_cairn/admin/sessions/ID            204
//
// and a user's own API tokens under /_cairn/tokens (registry:tokens:*, any
// user, not an API token; an administrator sees and revokes everyone's):
//
//	GET    /_cairn/tokens[?user=U|?all=true]    {"tokens":[TokenInfo...]}
//	POST   /_cairn/tokens                       NewToken -> 201 CreatedToken
//	DELETE /_cairn/tokens/ID                    204
//
// Errors use the distribution spec's envelope {"errors":[{"code","message"}]}.
// Both APIs take Basic credentials or a bearer token for their scope, so
// oras-go's auth.Client with a docker credential store drives them.
//
// # Access log
//
// Through Config.Recorder: logins (ok and refused, throttled ones too, with
// the scopes asked and granted), API token use, creation and revocation,
// denials (403, and the 401 that answers a request without credentials,
// with what it needed) and account changes. The anonymous GET /v2/ that
// starts every docker login is not recorded. The principal is the user
// name, or token:<id> for an API token (directly or through a bearer token
// exchanged for it); tag history records the same.
//
// # Not covered
//
// /healthz stays open. Forwarding headers are not trusted (see Throttle).
// The web UI keeps the session cookie and asks Auth through Authenticate,
// Login, the session methods, CanRead and IsAdmin. docs/security.md has the
// threat model.
package auth
