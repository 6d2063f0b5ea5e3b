package atlas

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// The wire types below decode only the fields the exporter uses; names follow the schemas of
// Atlas's OpenAPI description (https://www.mongodb.com/docs/api/doc/atlas-admin-api-v2/).

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// page is the common shape of Atlas's paginated list responses.
type page[T any] struct {
	Results    []T    `json:"results"`
	Links      []link `json:"links"`
	TotalCount *int64 `json:"totalCount"` // absent unless asked for (includeCount)
}

// errTooManyItems is a page with more results than its listing may still take.
var errTooManyItems = errors.New("too many items")

// decodePage decodes a page of at most limit results, or fails with errTooManyItems. Every
// result but the last is followed by a comma, so a body with fewer commas than the limit is
// decoded in one go (Atlas's pages have a few thousand); any other is decoded one result at a
// time, since a single page of MaxBodyBytes holding "{}" or "1" millions of times would
// otherwise become millions of structs before any check.
func decodePage[T any](body []byte, limit int) (page[T], error) {
	if bytes.Count(body, []byte{','}) < limit {
		var p page[T]
		err := json.Unmarshal(body, &p)
		return p, err
	}
	return decodePageByItem[T](body, limit)
}

// decodePageByItem is decodePage for bodies that might hold more than limit results.
func decodePageByItem[T any](body []byte, limit int) (page[T], error) {
	var w struct {
		Results    limitedItems[T] `json:"results"`
		Links      []link          `json:"links"`
		TotalCount *int64          `json:"totalCount"`
	}
	w.Results.limit = limit
	err := json.Unmarshal(body, &w)
	return page[T]{Results: w.Results.items, Links: w.Links, TotalCount: w.TotalCount}, err
}

// limitedItems decodes a JSON array one element at a time and stops past limit.
type limitedItems[T any] struct {
	items []T
	limit int
}

func (l *limitedItems[T]) UnmarshalJSON(b []byte) error {
	l.items = nil
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok == nil { // null: no results
		return err
	}
	if tok != json.Delim('[') {
		return errors.New("results is not an array")
	}
	for dec.More() {
		if len(l.items) >= l.limit {
			return errTooManyItems
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		l.items = append(l.items, v)
	}
	return nil
}

// DiskBackupReplicaSet / DiskBackupShardedClusterSnapshot / ServerlessBackupSnapshot.
type wireCloudSnapshot struct {
	ID               string    `json:"id"`
	Status           string    `json:"status"`
	CreatedAt        time.Time `json:"createdAt"`
	ExpiresAt        time.Time `json:"expiresAt"`
	StorageSizeBytes *int64    `json:"storageSizeBytes"`
	FrequencyType    string    `json:"frequencyType"`
	SnapshotType     string    `json:"snapshotType"`
	MongodVersion    string    `json:"mongodVersion"`
	CopyRegions      []string  `json:"copyRegions"`
}

// FlexBackupSnapshot20241113 / BackupTenantSnapshot.
type wireFlexSnapshot struct {
	ID             string    `json:"id"`
	Status         string    `json:"status"`
	ScheduledTime  time.Time `json:"scheduledTime"`
	StartTime      time.Time `json:"startTime"`
	FinishTime     time.Time `json:"finishTime"`
	Expiration     time.Time `json:"expiration"`
	MongoDBVersion string    `json:"mongoDBVersion"`
}

// BackupSnapshot (legacy backup).
type wireLegacySnapshot struct {
	ID       string `json:"id"`
	Complete bool   `json:"complete"`
	Created  struct {
		Date time.Time `json:"date"`
	} `json:"created"`
	Expires time.Time `json:"expires"`
	Parts   []struct {
		StorageSizeBytes *int64 `json:"storageSizeBytes"`
		MongodVersion    string `json:"mongodVersion"`
	} `json:"parts"`
}

func (w wireCloudSnapshot) normalise() Snapshot {
	s := Snapshot{
		ID: w.ID, Status: normaliseStatus(w.Status), RawStatus: w.Status,
		CreatedAt: w.CreatedAt, ExpiresAt: w.ExpiresAt,
		Type: w.SnapshotType, Frequency: w.FrequencyType, MongoDBVersion: w.MongodVersion, CopyRegions: w.CopyRegions,
	}
	if w.StorageSizeBytes != nil {
		s.addSize(*w.StorageSizeBytes)
	}
	return s
}

func (w wireFlexSnapshot) normalise() Snapshot {
	// Flex and tenant snapshots have no createdAt: the data is as of when Atlas finished
	// writing it, and before that the best point in time Atlas gives.
	created := w.FinishTime
	if created.IsZero() {
		created = w.StartTime
	}
	if created.IsZero() {
		created = w.ScheduledTime
	}
	return Snapshot{
		ID: w.ID, Status: normaliseStatus(w.Status), RawStatus: w.Status, CreatedAt: created, ExpiresAt: w.Expiration,
		// Atlas takes Flex and shared-tier snapshots once a day on its own schedule.
		Type: "scheduled", Frequency: "daily", MongoDBVersion: w.MongoDBVersion,
	}
}

func (w wireLegacySnapshot) normalise() Snapshot {
	s := Snapshot{ID: w.ID, Status: StatusInProgress, RawStatus: "complete=false", CreatedAt: w.Created.Date, ExpiresAt: w.Expires}
	if w.Complete {
		s.Status, s.RawStatus = StatusCompleted, "complete=true"
	}
	for _, p := range w.Parts {
		if p.StorageSizeBytes != nil {
			s.addSize(*p.StorageSizeBytes)
		}
		if s.MongoDBVersion == "" {
			s.MongoDBVersion = p.MongodVersion
		}
	}
	return s
}

// DiskBackupSnapshotSchedule20240805.
type wireSchedule struct {
	NextSnapshot      time.Time         `json:"nextSnapshot"`
	RestoreWindowDays int               `json:"restoreWindowDays"`
	AutoExportEnabled bool              `json:"autoExportEnabled"`
	CopySettings      []wireCopySetting `json:"copySettings"`
	Policies          []struct {
		PolicyItems []wirePolicyItem `json:"policyItems"`
	} `json:"policies"`
	ExtraRetentionSettings []struct {
		FrequencyType string `json:"frequencyType"`
		RetentionDays int    `json:"retentionDays"`
	} `json:"extraRetentionSettings"`
}

// DiskBackupApiPolicyItem, BackupComplianceScheduledPolicyItem, BackupComplianceOnDemandPolicyItem.
type wirePolicyItem struct {
	FrequencyType     string `json:"frequencyType"`
	FrequencyInterval int    `json:"frequencyInterval"`
	RetentionUnit     string `json:"retentionUnit"`
	RetentionValue    int    `json:"retentionValue"`
}

func (it wirePolicyItem) normalise() PolicyItem {
	return PolicyItem{Frequency: it.FrequencyType, Interval: it.FrequencyInterval, RetentionUnit: it.RetentionUnit, RetentionValue: it.RetentionValue}
}

func (w wireSchedule) normalise() Schedule {
	s := Schedule{NextSnapshot: w.NextSnapshot, RestoreWindowDays: w.RestoreWindowDays, AutoExport: w.AutoExportEnabled,
		Copies: copyRegions(w.CopySettings)}
	for _, p := range w.Policies {
		for _, it := range p.PolicyItems {
			s.Items = append(s.Items, it.normalise())
		}
	}
	for _, e := range w.ExtraRetentionSettings {
		s.ExtraRetention = append(s.ExtraRetention, ExtraRetention{Frequency: policyFrequency(e.FrequencyType), Days: e.RetentionDays})
	}
	return s
}

// Group.
type wireGroup struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	OrgID string `json:"orgId"`
}

// ClusterDescription20240805.
type wireCluster struct {
	Name             string `json:"name"`
	ClusterType      string `json:"clusterType"`
	StateName        string `json:"stateName"`
	Paused           bool   `json:"paused"`
	BackupEnabled    bool   `json:"backupEnabled"`
	PITEnabled       bool   `json:"pitEnabled"`
	MongoDBVersion   string `json:"mongoDBVersion"`
	ReplicationSpecs []struct {
		RegionConfigs []struct {
			ProviderName   string `json:"providerName"`
			ElectableSpecs struct {
				InstanceSize          string `json:"instanceSize"`
				EffectiveInstanceSize string `json:"effectiveInstanceSize"`
			} `json:"electableSpecs"`
		} `json:"regionConfigs"`
	} `json:"replicationSpecs"`
}

// FlexClusterDescription20241113.
type wireFlexCluster struct {
	Name           string `json:"name"`
	StateName      string `json:"stateName"`
	MongoDBVersion string `json:"mongoDBVersion"`
	BackupSettings struct {
		Enabled *bool `json:"enabled"`
	} `json:"backupSettings"`
}

// ServerlessInstanceDescription.
type wireServerless struct {
	Name           string `json:"name"`
	StateName      string `json:"stateName"`
	MongoDBVersion string `json:"mongoDBVersion"`
}

// classify turns a dedicated or tenant cluster description into a Cluster with the kind its
// backups are read from.
func (w wireCluster) classify(projectID string) Cluster {
	c := Cluster{
		ProjectID: projectID, Name: w.Name, Type: w.ClusterType, State: w.StateName,
		Paused: w.Paused, BackupEnabled: w.BackupEnabled, MongoDBVersion: w.MongoDBVersion, PITEnabled: w.PITEnabled,
	}
	// Every region of a cluster has the same provider and tier; the first one says it.
	provider, size := "", ""
	if len(w.ReplicationSpecs) > 0 && len(w.ReplicationSpecs[0].RegionConfigs) > 0 {
		rc := w.ReplicationSpecs[0].RegionConfigs[0]
		provider, size = rc.ProviderName, rc.ElectableSpecs.EffectiveInstanceSize
		if size == "" {
			size = rc.ElectableSpecs.InstanceSize
		}
	}
	c.Tier = size
	switch {
	case provider == "TENANT" && size == "M0":
		// Atlas takes no backups of free clusters.
		c.Type, c.BackupEnabled = "TENANT", false
	case provider == "TENANT":
		// M2/M5 were all migrated to Flex; their snapshots are read through the Flex API.
		c.Type, c.Kind, c.BackupEnabled = "FLEX", KindFlex, true
	case !w.BackupEnabled:
	default:
		c.Kind = KindCloud
		c.Sharded = w.ClusterType == "SHARDED" || w.ClusterType == "GEOSHARDED"
	}
	return c
}

func (w wireFlexCluster) classify(projectID string) Cluster {
	enabled := w.BackupSettings.Enabled == nil || *w.BackupSettings.Enabled
	c := Cluster{
		ProjectID: projectID, Name: w.Name, Type: "FLEX", Tier: "FLEX", State: w.StateName,
		BackupEnabled: enabled, MongoDBVersion: w.MongoDBVersion,
	}
	if enabled {
		c.Kind = KindFlex
	}
	return c
}

func (w wireServerless) classify(projectID string) Cluster {
	return Cluster{
		ProjectID: projectID, Name: w.Name, Kind: KindServerless, Type: "SERVERLESS", Tier: "SERVERLESS",
		State: w.StateName, BackupEnabled: true, MongoDBVersion: w.MongoDBVersion,
	}
}

// wireError is Atlas's ApiError body.
type wireError struct {
	Error      int               `json:"error"`
	ErrorCode  string            `json:"errorCode"`
	Detail     string            `json:"detail"`
	Reason     string            `json:"reason"`
	Parameters []json.RawMessage `json:"parameters"`
}
