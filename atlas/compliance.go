package atlas

import (
	"context"
	"errors"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// CompliancePolicy is a project's Backup Compliance Policy: settings no user can weaken or
// delete, backups included, without MongoDB support.
type CompliancePolicy struct {
	State                   string // ACTIVE, ENABLING, UPDATING, DISABLING
	PITEnabled              bool   // continuous backup required
	CopyProtectionEnabled   bool   // copies in other regions cannot be deleted
	EncryptionAtRestEnabled bool   // customer-key encryption at rest required
	RestoreWindowDays       int    // point-in-time restore window required (with PITEnabled)
	// Items are the minimums the policy sets: its scheduled policy items, then its on-demand
	// one (frequency ondemand), in the order Atlas gives them.
	Items []PolicyItem
}

// InForce reports whether the policy binds the project now: it is active, or being updated
// (the settings in force stay until the update ends). One being enabled does not bind it yet,
// one being disabled no longer does.
func (p CompliancePolicy) InForce() bool { return p.State == "ACTIVE" || p.State == "UPDATING" }

// DataProtectionSettings20231001.
type wireCompliancePolicy struct {
	ProjectID               string           `json:"projectId"`
	AuthorizedEmail         string           `json:"authorizedEmail"`
	State                   string           `json:"state"`
	PITEnabled              bool             `json:"pitEnabled"`
	CopyProtectionEnabled   bool             `json:"copyProtectionEnabled"`
	EncryptionAtRestEnabled bool             `json:"encryptionAtRestEnabled"`
	RestoreWindowDays       int              `json:"restoreWindowDays"`
	ScheduledPolicyItems    []wirePolicyItem `json:"scheduledPolicyItems"`
	OnDemandPolicyItem      *wirePolicyItem  `json:"onDemandPolicyItem"`
}

// CompliancePolicy reads a project's Backup Compliance Policy; it is nil when the project has
// none. Atlas says so with an empty object (every required field missing), though the API
// description documents a 404: both mean none, except a 404 that names the project.
func (c *Client) CompliancePolicy(ctx context.Context, projectID string) (*CompliancePolicy, error) {
	w, err := getOne[wireCompliancePolicy](ctx, c, spec.GetGroupBackupCompliancePolicy, scope{ProjectID: projectID}, spec.GetGroupBackupCompliancePolicy.Expand(projectID))
	var ae *Error
	switch {
	case err == nil && w.ProjectID == "" && w.AuthorizedEmail == "" && w.State == "":
		return nil, nil
	case err == nil:
		return w.normalise(), nil
	case errors.As(err, &ae) && ae.StatusCode == 404 && !ProjectNotFound(err):
		return nil, nil
	}
	return nil, err
}

func (w wireCompliancePolicy) normalise() *CompliancePolicy {
	p := &CompliancePolicy{State: w.State, PITEnabled: w.PITEnabled, CopyProtectionEnabled: w.CopyProtectionEnabled,
		EncryptionAtRestEnabled: w.EncryptionAtRestEnabled, RestoreWindowDays: w.RestoreWindowDays}
	for _, it := range w.ScheduledPolicyItems {
		p.Items = append(p.Items, it.normalise())
	}
	if od := w.OnDemandPolicyItem; od != nil {
		// The on-demand item is of frequency ondemand whatever it says (its only documented value).
		it := od.normalise()
		it.Frequency = "ondemand"
		p.Items = append(p.Items, it)
	}
	return p
}
