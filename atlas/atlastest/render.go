package atlastest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type obj = map[string]any

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func notFound(code, detail string, params ...string) (any, int) {
	return apiError{Error: 404, ErrorCode: code, Detail: detail, Reason: "Not Found", Parameters: params}, 404
}

func badRequest(code, detail string, params ...string) (any, int) {
	return apiError{Error: 400, ErrorCode: code, Detail: detail, Reason: "Bad Request", Parameters: params}, 400
}

// answer builds the body of a successful route for a caller of organisation org, or an Atlas
// error; s.mu is held.
func (s *Server) answer(r *http.Request, rt routeInfo, org string) (any, int) {
	visible := s.projectsOf(org)
	switch rt.op {
	case "listOrgs", "getOrg":
		return s.orgAnswer(r, rt, org)
	case "listGroups":
		items := make([]any, 0, len(visible))
		for _, p := range visible {
			items = append(items, group(p))
		}
		return s.paginate(r, items, true), 200
	case "listClusterDetails":
		items := make([]any, 0, len(visible))
		for _, p := range visible {
			items = append(items, s.orgGroup(p))
		}
		return s.paginate(r, items, true), 200
	case "getGroupByName":
		for _, p := range visible {
			if p.Name == rt.byName {
				return group(p), 200
			}
		}
		return notFound("GROUP_NAME_NOT_FOUND", "No group with name \""+rt.byName+"\" exists.", rt.byName)
	}
	p := s.estate.Project(rt.project)
	if p == nil {
		return notFound("GROUP_NOT_FOUND", "No group with ID "+rt.project+" exists.", rt.project)
	}
	if p.orgOf() != org {
		return notInGroup()
	}
	switch rt.op {
	case "getGroupBackupCompliancePolicy":
		return compliancePolicy(p), 200
	case "listGroupClusters":
		var items []any
		for _, c := range p.Clusters {
			if c.Kind != Flex && c.Kind != Serverless {
				items = append(items, clusterDescription(p, c))
			}
		}
		return s.paginate(r, items, true), 200
	case "listGroupFlexClusters":
		var items []any
		for _, c := range p.Clusters {
			if c.Kind == Flex || c.Kind == Tenant {
				items = append(items, obj{"name": c.Name, "groupId": p.ID, "stateName": "IDLE", "clusterType": "REPLICASET",
					"mongoDBVersion": "8.0.4", "backupSettings": obj{"enabled": true},
					"providerSettings": obj{"providerName": "FLEX", "backingProviderName": "AWS", "regionName": "US_EAST_1"}})
			}
		}
		return s.paginate(r, items, true), 200
	case "listGroupServerlessInstances":
		var items []any
		for _, c := range p.Clusters {
			if c.Kind == Serverless {
				items = append(items, obj{"name": c.Name, "groupId": p.ID, "stateName": "IDLE", "mongoDBVersion": "8.0.4",
					"providerSettings": obj{"providerName": "SERVERLESS", "backingProviderName": "AWS", "regionName": "US_EAST_1"}})
			}
		}
		return s.paginate(r, items, true), 200
	}
	c := p.Cluster(rt.cluster)
	api := apiOf(rt.op)
	if c == nil {
		if api == "serverless" {
			return notFound("SERVERLESS_INSTANCE_NOT_FOUND", "No serverless instance named "+rt.cluster+" exists in group "+p.ID+".", rt.cluster, p.ID)
		}
		return notFound("CLUSTER_NOT_FOUND", "No cluster named "+rt.cluster+" exists in group "+p.ID+".", rt.cluster, p.ID)
	}
	if body, status, bad := wrongAPI(api, c); bad {
		return body, status
	}
	if rt.op == "getGroupClusterBackupSchedule" {
		return schedule(c), 200
	}
	if body, ok := s.jobsOf(r, rt, p, c); ok {
		return body, 200
	}
	render := renderer(api, c)
	if rt.snapshot != "" {
		for _, sn := range c.Snapshots {
			if sn.ID == rt.snapshot && (api != "legacy" || sn.Status != "failed") {
				return render(sn), 200
			}
		}
		return notFound("SNAPSHOT_NOT_FOUND", "No snapshot with ID "+rt.snapshot+" exists.", rt.snapshot)
	}
	items := make([]any, 0, len(c.Snapshots))
	for _, sn := range c.Snapshots {
		if api == "legacy" && (sn.Status == "failed" || (sn.Status != "completed" && r.URL.Query().Get("completed") != "all")) {
			continue
		}
		items = append(items, render(sn))
	}
	paged := rt.op != "listGroupClusterBackupTenantSnapshots" && rt.op != "listGroupClusterBackupSnapshotShardedClusters"
	return s.paginate(r, items, paged), 200
}

// schedule renders a DiskBackupSnapshotSchedule20240805.
func schedule(c *Cluster) obj {
	extra := []any{}
	for _, e := range c.ExtraRetention {
		extra = append(extra, obj{"frequencyType": e.Frequency, "retentionDays": e.Days})
	}
	return obj{
		"clusterName": c.Name, "nextSnapshot": ts(c.NextSnapshot), "referenceHourOfDay": 18, "referenceMinuteOfHour": 0,
		"restoreWindowDays": c.RestoreWindowDays, "autoExportEnabled": c.AutoExport, "copySettings": copySettings(c), "copyPolicyItemsEnabled": true,
		"policies": []any{obj{"id": "6c0000000000000000000001", "policyItems": policyItems(c.Policy)}}, "extraRetentionSettings": extra,
	}
}

// policyItems renders policy items (DiskBackupApiPolicyItem, BackupComplianceScheduledPolicyItem).
func policyItems(its []PolicyItem) []any {
	items := make([]any, 0, len(its))
	for i, it := range its {
		items = append(items, obj{"id": fmt.Sprintf("6b%022x", i+1), "frequencyType": it.Frequency, "frequencyInterval": it.Interval,
			"retentionUnit": it.RetentionUnit, "retentionValue": it.RetentionValue})
	}
	return items
}

func group(p *Project) obj {
	return obj{"id": p.ID, "name": p.Name, "orgId": p.orgOf(), "clusterCount": len(p.Clusters), "created": "2024-01-01T00:00:00Z"}
}

// orgGroup renders a project of the all-projects cluster listing, which leaves out multi-cloud
// clusters and serverless instances; s.mu is held.
func (s *Server) orgGroup(p *Project) obj {
	clusters := []any{}
	for _, c := range p.Clusters {
		if c.MultiCloud || c.Kind == Serverless {
			continue
		}
		typ := "REPLICA_SET"
		if c.Sharded {
			typ = "SHARDED_CLUSTER"
		}
		clusters = append(clusters, obj{"name": c.Name, "type": typ, "backupEnabled": c.Kind == Dedicated || c.Kind == Tenant,
			"clusterId": fmt.Sprintf("%024x", len(c.Name)), "availability": "available", "versions": []any{"8.0.4"}})
	}
	orgName := ""
	for _, o := range s.orgs {
		if o.ID == p.orgOf() {
			orgName = o.Name
		}
	}
	return obj{"groupId": p.ID, "groupName": p.Name, "orgId": p.orgOf(), "orgName": orgName, "planType": "Atlas", "clusters": clusters}
}

func clusterDescription(p *Project, c *Cluster) obj {
	provider, size, effective := "AWS", "M30", ""
	switch c.Kind {
	case Free:
		provider, size, effective = "TENANT", "M0", "M0"
	case Tenant:
		provider, size, effective = "TENANT", "M2", "FLEX"
	}
	clusterType := "REPLICASET"
	if c.Sharded {
		clusterType = "SHARDED"
	}
	specs := obj{"instanceSize": size}
	if effective != "" {
		specs["effectiveInstanceSize"] = effective
	}
	return obj{
		"name": c.Name, "groupId": p.ID, "clusterType": clusterType, "stateName": "IDLE", "paused": c.Paused,
		"backupEnabled": c.Kind == Dedicated || c.Kind == Tenant, "mongoDBVersion": "8.0.4", "pitEnabled": c.PIT,
		"replicationSpecs": []any{obj{"regionConfigs": []any{obj{"providerName": provider, "regionName": "US_EAST_1", "electableSpecs": specs}}}},
	}
}

// apiOf names the snapshot API an operation belongs to.
func apiOf(op string) string {
	switch {
	case strings.Contains(op, "Tenant"):
		return "tenant"
	case strings.Contains(op, "Flex"):
		return "flex"
	case strings.Contains(op, "Serverless"):
		return "serverless"
	case strings.Contains(op, "ShardedCluster"):
		return "sharded"
	case op == "listGroupClusterSnapshots" || op == "getGroupClusterSnapshot":
		return "legacy"
	}
	return "cloud"
}

// wrongAPI answers a cluster asked for through a snapshot API that does not serve it, with
// the 400s Atlas gives (CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API and the like; see Atlas's API
// error codes, https://www.mongodb.com/docs/atlas/reference/api-errors/).
func wrongAPI(api string, c *Cluster) (any, int, bool) {
	flexLike := c.Kind == Flex || c.Kind == Tenant
	switch api {
	case "cloud", "sharded", "legacy":
		if flexLike {
			b, s := badRequest("CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API", "Flex cluster "+c.Name+" cannot be used in the Cluster API.", c.Name)
			return b, s, true
		}
		if c.Kind == Serverless {
			b, s := badRequest("CANNOT_USE_SERVERLESS_INSTANCE_IN_CLUSTER_API", "Serverless instance "+c.Name+" cannot be used in the Cluster API.", c.Name)
			return b, s, true
		}
		if api == "legacy" && c.Kind != Legacy {
			b, s := badRequest("INCORRECT_BACKUP_API_ENDPOINT", "Incorrect Public API endpoint for Cloud Backups. Please use the following endpoint: (/backup/snapshots).", "/backup/snapshots")
			return b, s, true
		}
	case "flex", "tenant":
		if !flexLike && c.Kind != Serverless {
			b, s := badRequest("CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API", "Cannot use non-flex cluster "+c.Name+" in the flex API.", c.Name)
			return b, s, true
		}
	case "serverless":
		if c.Kind != Serverless {
			b, s := badRequest("CANNOT_USE_CLUSTER_IN_SERVERLESS_INSTANCE_API", "Cluster "+c.Name+" cannot be used in the Serverless Instance API.", c.Name)
			return b, s, true
		}
	}
	return nil, 0, false
}

var flexStatus = map[string]string{"queued": "QUEUED", "inProgress": "RUNNING", "completed": "COMPLETED", "failed": "FAILED"}

func renderer(api string, c *Cluster) func(Snap) any {
	switch api {
	case "flex", "tenant":
		return func(sn Snap) any {
			o := obj{"id": sn.ID, "status": flexStatus[sn.Status], "scheduledTime": ts(sn.CreatedAt.Add(-time.Minute)),
				"startTime": ts(sn.CreatedAt.Add(-30 * time.Second)), "expiration": ts(sn.ExpiresAt), "mongoDBVersion": sn.Version}
			if sn.Status == "completed" {
				o["finishTime"] = ts(sn.CreatedAt)
			}
			if sn.Status == "queued" {
				delete(o, "startTime")
			}
			return o
		}
	case "legacy":
		return func(sn Snap) any {
			half := sn.Size / 2
			return obj{"id": sn.ID, "clusterName": c.Name, "complete": sn.Status == "completed",
				"created": obj{"date": ts(sn.CreatedAt), "increment": 1}, "expires": ts(sn.ExpiresAt), "doNotDelete": false,
				"incremental": true, "parts": []any{
					obj{"replicaSetName": c.Name + "-shard-0", "storageSizeBytes": half, "mongodVersion": sn.Version, "typeName": "REPLICA_SET"},
					obj{"replicaSetName": c.Name + "-shard-1", "storageSizeBytes": sn.Size - half, "mongodVersion": sn.Version, "typeName": "REPLICA_SET"},
				}}
		}
	case "serverless":
		return func(sn Snap) any {
			freq := sn.Frequency
			if freq == "yearly" {
				freq = "monthly"
			}
			typ := sn.Type
			if typ == "fallback" {
				typ = "scheduled"
			}
			return obj{"id": sn.ID, "status": sn.Status, "createdAt": ts(sn.CreatedAt), "expiresAt": ts(sn.ExpiresAt),
				"storageSizeBytes": sn.Size, "frequencyType": freq, "snapshotType": typ, "mongodVersion": sn.Version,
				"serverlessInstanceName": c.Name}
		}
	}
	return func(sn Snap) any {
		o := obj{"id": sn.ID, "status": sn.Status, "createdAt": ts(sn.CreatedAt), "expiresAt": ts(sn.ExpiresAt),
			"storageSizeBytes": sn.Size, "frequencyType": sn.Frequency, "snapshotType": sn.Type, "mongodVersion": sn.Version,
			"cloudProvider": "AWS", "type": "replicaSet", "replicaSetName": c.Name, "copyRegions": append([]string{}, sn.CopyRegions...)}
		if c.Sharded {
			o["type"] = "shardedCluster"
			delete(o, "replicaSetName")
			delete(o, "cloudProvider")
			delete(o, "copyRegions")
			o["members"] = []any{obj{"cloudProvider": "AWS", "id": sn.ID, "replicaSetName": c.Name + "-shard-0"}}
		}
		return o
	}
}

// paginate serves one page of items with Atlas's links; for operations without paging
// parameters it returns everything.
func (s *Server) paginate(r *http.Request, items []any, paged bool) obj {
	if items == nil {
		items = []any{}
	}
	q := r.URL.Query()
	per, pageNum := len(items), 1
	if paged {
		per = 100
		if v, err := strconv.Atoi(q.Get("itemsPerPage")); err == nil && v >= 1 && v <= 500 {
			per = v
		}
		if v, err := strconv.Atoi(q.Get("pageNum")); err == nil && v >= 1 {
			pageNum = v
		}
		// A capped page is still numbered as asked, so Atlas's arithmetic is kept: the client
		// must follow links, not compute offsets.
		if s.opts.PageCap > 0 && per > s.opts.PageCap {
			per = s.opts.PageCap
		}
	}
	start := min((pageNum-1)*per, len(items))
	end := min(start+per, len(items))
	links := []any{obj{"rel": "self", "href": pageLink(r, pageNum, per, paged)}}
	if end < len(items) {
		links = append(links, obj{"rel": "next", "href": pageLink(r, pageNum+1, per, paged)})
	}
	out := obj{"results": items[start:end], "links": links}
	if q.Get("includeCount") != "false" {
		out["totalCount"] = len(items)
	}
	return out
}

// PageHook changes the estate after a page of a listing was served: it is given the page's
// number and runs with the estate locked, so the listing's next page shows the change. It lets
// tests delete and add items between the pages of one read, deterministically.
type PageHook func(page int, e *Estate)

// OnPage runs h after every page of operation op's listing of cluster ("" for any, or for the
// listings that name no cluster) is served; a nil h removes it.
func (s *Server) OnPage(op, cluster string, h PageHook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.onPage, [2]string{op, cluster})
		return
	}
	if s.onPage == nil {
		s.onPage = map[[2]string]PageHook{}
	}
	s.onPage[[2]string{op, cluster}] = h
}

// afterPage runs the page hook of rt's listing, if any; s.mu is held.
func (s *Server) afterPage(r *http.Request, rt routeInfo) {
	h := s.onPage[[2]string{rt.op, rt.cluster}]
	if h == nil {
		h = s.onPage[[2]string{rt.op, ""}]
	}
	if h == nil {
		return
	}
	n, err := strconv.Atoi(r.URL.Query().Get("pageNum"))
	if err != nil || n < 1 {
		n = 1
	}
	h(n, s.estate)
}

// pageLink is the link to page n of r's listing, per items a page.
func pageLink(r *http.Request, n, per int, paged bool) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
	q := r.URL.Query()
	if paged {
		q.Set("pageNum", strconv.Itoa(n))
		q.Set("itemsPerPage", strconv.Itoa(per))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// reshape gives a listing page the hostile shape f asks for; other answers pass unchanged.
func reshape(r *http.Request, body any, f Fault) any {
	page, ok := body.(obj)
	items, isList := page["results"].([]any)
	if !ok || !isList || (!f.Endless && !f.Duplicates) {
		return body
	}
	if f.Endless {
		pageNum, _ := strconv.Atoi(r.URL.Query().Get("pageNum"))
		pageNum = max(pageNum, 1)
		n := f.PageItems
		if n <= 0 {
			n = max(len(items), 1)
		}
		out := make([]any, n)
		for i := range out {
			it := obj{}
			if len(items) > 0 {
				it = maps.Clone(items[i%len(items)].(obj))
			}
			it["id"] = fmt.Sprintf("%08x%016x", pageNum, i)
			out[i] = it
		}
		items = out
		page["links"] = []any{
			obj{"rel": "self", "href": pageLink(r, pageNum, n, true)},
			obj{"rel": "next", "href": pageLink(r, pageNum+1, n, true)},
		}
	}
	if f.Duplicates {
		items = slices.Concat(items, items)
	}
	page["results"] = items
	return page
}
