package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes of the distribution spec used here.
const (
	codeUnauthorized    = "UNAUTHORIZED"
	codeDenied          = "DENIED"
	codeTooManyRequests = "TOOMANYREQUESTS"
	codeUnsupported     = "UNSUPPORTED"
	codeInvalid         = "INVALID"
	codeNotFound        = "NOT_FOUND"
	codeExists          = "EXISTS"
	codeInternal        = "UNKNOWN"
)

// quote makes a quoted-string of RFC 9110.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// challengeHeader is the WWW-Authenticate value for a request that needs
// scope (may be empty); errCode is "", "invalid_token" or
// "insufficient_scope" (RFC 6750).
func (a *Auth) challengeHeader(r *http.Request, scope []Access, errCode string) string {
	var b strings.Builder
	b.WriteString("Bearer realm=")
	b.WriteString(quote(a.realmFor(r)))
	b.WriteString(",service=")
	b.WriteString(quote(a.serviceFor(r)))
	if len(scope) > 0 {
		b.WriteString(",scope=")
		b.WriteString(quote(scopeString(scope)))
	}
	if errCode != "" {
		b.WriteString(",error=")
		b.WriteString(quote(errCode))
	}
	return b.String()
}

// errorBody is the distribution spec's error envelope, which the admin API
// and the token endpoint use too.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError sends the error envelope with status.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string, detail any) {
	b, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: code, Message: msg, Detail: detail}}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	// An unread body must not be parsed as the next request.
	if r.Body != nil && r.ContentLength != 0 {
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// unauthorized answers 401 with a Bearer challenge for scope.
func (a *Auth) unauthorized(w http.ResponseWriter, r *http.Request, scope []Access, errCode, msg string) {
	w.Header().Set("WWW-Authenticate", a.challengeHeader(r, scope, errCode))
	var detail any
	if len(scope) > 0 {
		detail = scope
	}
	writeError(w, r, http.StatusUnauthorized, codeUnauthorized, msg, detail)
}

// throttled answers 429 with Retry-After in whole seconds.
func throttled(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, r, http.StatusTooManyRequests, codeTooManyRequests, "too many failed logins; retry later", nil)
}

// refuseCredentials answers a request whose credentials did not verify:
// 429 when throttled, else 401 with a challenge.
func (a *Auth) refuseCredentials(w http.ResponseWriter, r *http.Request, scope []Access, err error) {
	var te *ThrottledError
	if errors.As(err, &te) {
		throttled(w, r, te.RetryAfter)
		return
	}
	code := ""
	if errors.Is(err, ErrTokenInvalid) || strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ") {
		code = "invalid_token"
	}
	a.unauthorized(w, r, scope, code, "authentication failed")
}

// ParseChallenge parses a WWW-Authenticate value with one challenge
// (RFC 9110 section 11.6.1): the scheme, lower-cased, and its parameters,
// with lower-cased names and unquoted values. It is what clients do with
// the registry's challenges; the tests use it to read them back.
func ParseChallenge(h string) (scheme string, params map[string]string, err error) {
	if len(h) > 8<<10 {
		return "", nil, errors.New("challenge too long")
	}
	h = strings.TrimLeft(h, " \t")
	i := strings.IndexAny(h, " \t")
	if i < 0 {
		if !isToken(h) {
			return "", nil, fmt.Errorf("invalid scheme %q", clip(h))
		}
		return strings.ToLower(h), map[string]string{}, nil
	}
	scheme, rest := h[:i], h[i:]
	if !isToken(scheme) {
		return "", nil, fmt.Errorf("invalid scheme %q", clip(scheme))
	}
	params = map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return strings.ToLower(scheme), params, nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return "", nil, fmt.Errorf("invalid parameter in %q", clip(rest))
		}
		name := strings.ToLower(strings.TrimRight(rest[:eq], " \t"))
		if !isToken(name) {
			return "", nil, fmt.Errorf("invalid parameter name %q", clip(name))
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
				}
				b.WriteByte(rest[j])
			}
			if j >= len(rest) {
				return "", nil, errors.New("unterminated quoted string")
			}
			val, rest = b.String(), rest[j+1:]
		} else {
			k := strings.IndexAny(rest, ", \t")
			if k < 0 {
				k = len(rest)
			}
			val, rest = rest[:k], rest[k:]
			if !isToken(val) {
				return "", nil, fmt.Errorf("invalid parameter value %q", clip(val))
			}
		}
		if _, dup := params[name]; dup {
			return "", nil, fmt.Errorf("parameter %q twice", clip(name))
		}
		params[name] = val
	}
}

// isToken reports whether s is a token of RFC 9110.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
