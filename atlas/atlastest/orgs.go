package atlastest

import (
	"fmt"
	"maps"
	"net/http"
)

// Organisations. Atlas's service accounts and API keys belong to one organisation and see its
// projects only; a company with several organisations has one set of credentials each. The
// fake serves the default organisation (DefaultOrgID, with the credentials of Options) and
// those of Options.Orgs, each with its own credentials: a project belongs to the organisation
// its OrgID names ("" for the default one), and a caller sees and reads the projects of its own
// organisation only.

// DefaultOrgID is the organisation of the projects whose OrgID is empty, and of the credentials
// set in Options (ClientID, PublicKey, ...): OrgID(0).
var DefaultOrgID = OrgID(0)

// OrgID returns the id the fake gives organisation i.
func OrgID(i int) string { return fmt.Sprintf("5e%022x", i+1) }

// Org is one organisation beyond the default one, and its credentials; an empty credential
// refuses that method.
type Org struct {
	ID, Name               string
	ClientID, ClientSecret string
	PublicKey, PrivateKey  string
	// NotMember refuses GET /orgs/{orgId} to the organisation's own credentials, as Atlas does
	// to credentials without the Organization Member role (401 USER_UNAUTHORIZED); they read
	// its projects all the same.
	NotMember bool
}

// orgOf is the organisation a project belongs to.
func (p *Project) orgOf() string {
	if p.OrgID == "" {
		return DefaultOrgID
	}
	return p.OrgID
}

// SetOrgCredentials replaces the credentials organisation id accepts (e.g. to revoke them
// mid-run) and invalidates the tokens issued to it; the default organisation's are set with
// SetCredentials.
func (s *Server) SetOrgCredentials(id, clientID, clientSecret, publicKey, privateKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.orgs {
		o := &s.orgs[i]
		if o.ID != id {
			continue
		}
		o.ClientID, o.ClientSecret, o.PublicKey, o.PrivateKey = clientID, clientSecret, publicKey, privateKey
		for tok, t := range s.tokens {
			if t.org == id {
				delete(s.tokens, tok)
			}
		}
	}
}

// countFor counts a request of operation op that credentials of organisation org made ("" when
// they were refused, or the request carried none).
func (s *Server) countFor(org, op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byOrg == nil {
		s.byOrg = map[string]map[string]int{}
	}
	if s.byOrg[org] == nil {
		s.byOrg[org] = map[string]int{}
	}
	s.byOrg[org][op]++
}

// OrgCounts returns, since the last Reset, the request count per operation of the requests
// whose credentials organisation id's are: token requests that were granted a token (or hung,
// counted when their client gave up), and API requests whose credentials were accepted
// (OrgCounts("") counts the others: digest challenges, refused credentials).
func (s *Server) OrgCounts(id string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byOrg[id])
}

// inFlightFor counts an API request of organisation org's credentials in flight until the
// function it returns is called.
func (s *Server) inFlightFor(org string) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orgIn == nil {
		s.orgIn = map[string]*[2]int{}
	}
	in := s.orgIn[org]
	if in == nil {
		in = &[2]int{}
		s.orgIn[org] = in
	}
	in[0]++
	in[1] = max(in[1], in[0])
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		in[0]--
	}
}

// OrgMaxInFlight returns the most API requests of organisation id's credentials the fake was
// serving at once since the last Reset (those under way at the Reset counted).
func (s *Server) OrgMaxInFlight(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.orgIn[id]; in != nil {
		return in[1]
	}
	return 0
}

// orgByClient is the organisation whose service account id and secret these are; s.mu must be
// held.
func (s *Server) orgByClient(id, secret string) (Org, bool) {
	for _, o := range s.orgs {
		if o.ClientID != "" && o.ClientID == id && o.ClientSecret == secret {
			return o, true
		}
	}
	return Org{}, false
}

// orgByKey is the organisation whose API key has this public key; s.mu must be held.
func (s *Server) orgByKey(public string) (Org, bool) {
	for _, o := range s.orgs {
		if o.PublicKey != "" && o.PublicKey == public {
			return o, true
		}
	}
	return Org{}, false
}

// projectsOf are the projects of organisation org; s.mu must be held.
func (s *Server) projectsOf(org string) []*Project {
	var out []*Project
	for _, p := range s.estate.Projects {
		if p.orgOf() == org {
			out = append(out, p)
		}
	}
	return out
}

// orgAnswer answers the organisation routes to a caller of organisation caller; s.mu must be
// held.
func (s *Server) orgAnswer(r *http.Request, rt routeInfo, caller string) (any, int) {
	var own Org
	for _, o := range s.orgs {
		if o.ID == caller {
			own = o
		}
	}
	org := obj{"id": own.ID, "name": own.Name, "isDeleted": false, "skipDefaultAlertsSettings": false}
	if rt.op == "listOrgs" {
		return s.paginate(r, []any{org}, true), 200
	}
	if rt.org != caller || own.NotMember {
		return apiError{Error: 401, ErrorCode: "USER_UNAUTHORIZED", Detail: "Current user is not authorized to perform this action.", Reason: "Unauthorized", Parameters: []string{}}, 401
	}
	return org, 200
}

// notInGroup answers a call about a project of another organisation than the caller's.
func notInGroup() (any, int) {
	return apiError{Error: 401, ErrorCode: "NOT_IN_GROUP", Detail: "The current user is not in the group, or the group does not exist.", Reason: "Unauthorized", Parameters: []string{}}, 401
}
