package atlas

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a failed Atlas API call. It names the operation, project, cluster, endpoint, HTTP
// status and Atlas errorCode; it never holds credentials.
type Error struct {
	Operation  string
	ProjectID  string
	Cluster    string
	Path       string // request path without query
	StatusCode int    // 0 when no HTTP response arrived
	ErrorCode  string // Atlas errorCode, "" when the body was not an Atlas error
	Detail     string
	Reason     string
	Parameters []string
	Err        error // transport, decode or size error when StatusCode is 0 or the body was bad
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("atlas: ")
	b.WriteString(e.Operation)
	if e.ProjectID != "" {
		fmt.Fprintf(&b, " project=%s", e.ProjectID)
	}
	if e.Cluster != "" {
		fmt.Fprintf(&b, " cluster=%s", e.Cluster)
	}
	fmt.Fprintf(&b, " GET %s: ", e.Path)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.ErrorCode != "" {
			fmt.Fprintf(&b, " %s", e.ErrorCode)
		}
		if e.Detail != "" {
			fmt.Fprintf(&b, ": %s", truncate(e.Detail, 300))
		}
		if e.Err != nil {
			fmt.Fprintf(&b, ": %v", e.Err)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Unauthorized reports whether Atlas rejected the credentials (or the token endpoint did).
func (e *Error) Unauthorized() bool { return e.StatusCode == 401 || errors.Is(e.Err, ErrToken) }

// NotFound reports whether Atlas said the project or cluster itself does not exist (as opposed
// to an endpoint that is gone).
func (e *Error) NotFound() bool { return notFoundOf(e) != 0 }

// ErrToken marks a failure to obtain an OAuth2 access token.
var ErrToken = errors.New("service account token request failed")

// ErrGone is matched (errors.Is) by a GoneError.
var ErrGone = errors.New("snapshot endpoint is gone for this cluster")

// GoneError says that a kind's endpoint answered in a way that means "not here any more" (410
// VERSION_GONE, 404 on a removed route, or 400 naming the API to use instead). The caller
// reports it once and reads Replacement instead.
type GoneError struct {
	Kind        Kind
	Replacement Kind // "" when Atlas has no replacement for it
	Err         *Error
}

func (g *GoneError) Error() string {
	if g.Replacement != "" {
		return fmt.Sprintf("%s endpoint gone (replacement: %s): %v", g.Kind, g.Replacement, g.Err)
	}
	return fmt.Sprintf("%s endpoint gone: %v", g.Kind, g.Err)
}

func (g *GoneError) Unwrap() []error { return []error{ErrGone, g.Err} }

// asGone classifies a failed snapshot call of kind k, returning a GoneError or nil.
func asGone(k Kind, e *Error) *GoneError {
	if g := removed(k, e); g != nil {
		return g
	}
	var replacement Kind
	switch {
	case e.StatusCode == 400 && e.ErrorCode == "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API":
		replacement = KindFlex
	case e.StatusCode == 400 && e.ErrorCode == "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API",
		e.StatusCode == 400 && e.ErrorCode == "INCORRECT_BACKUP_API_ENDPOINT":
		replacement = KindCloud
	case e.StatusCode == 400 && strings.HasPrefix(e.ErrorCode, "CANNOT_USE_"):
		replacement = LifecycleOf(k).Replacement
	default:
		return nil
	}
	if replacement == k {
		replacement = ""
	}
	return &GoneError{Kind: k, Replacement: replacement, Err: e}
}

// removed classifies an answer saying that k's route is no longer there, for a snapshot call or
// a listing of k's deployments alike: 410 VERSION_GONE, or, for a kind Atlas deprecated, a 404
// that names no missing project or cluster (a removed route answers so). It returns nil for any
// other answer; the replacement is the kind's (LifecycleOf).
func removed(k Kind, e *Error) *GoneError {
	if e.StatusCode != 410 && (e.StatusCode != 404 || !LifecycleOf(k).Deprecated || e.NotFound()) {
		return nil
	}
	replacement := LifecycleOf(k).Replacement
	if replacement == k {
		replacement = ""
	}
	return &GoneError{Kind: k, Replacement: replacement, Err: e}
}
