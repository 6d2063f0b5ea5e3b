package atlas

import (
	"errors"
	"strings"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// requiredRoles are the least roles of the operations that need more than Project Read Only
// (the API description's x-rolesRequirements): project roles, and for reading an organisation
// a role on the organisation.
var requiredRoles = map[string]string{
	spec.ListGroupClusterBackupRestoreJobs.Name: "Project Backup Manager",
	spec.ListGroupClusterBackupExports.Name:     "Project Backup Manager",
	spec.GetGroupBackupCompliancePolicy.Name:    "Project Owner",
	spec.GetOrg.Name:                            "Organization Member",
}

// RoleRequired names the least role operation needs: on the project, or for getOrg on the
// organisation.
func RoleRequired(operation string) string {
	if r, ok := requiredRoles[operation]; ok {
		return r
	}
	return "Project Read Only"
}

// RefusalScope is what one 403 refuses in a project: reading one kind of job listing for the
// clusters read as one kind. Roles are granted per project and checked per operation, so the
// refusal holds for every such cluster of the project alike, and says nothing of another
// listing, nor of the same jobs of another kind: Cloud Backup and Flex restore jobs are listed
// by different operations.
type RefusalScope struct {
	Jobs JobKind
	Kind Kind
}

// RefusedError is Atlas refusing a call with 403, told without what differs from one cluster to
// the next: the credentials lack the operation's role on the project (or the project's API
// access list bars them), for every cluster of the project alike.
type RefusedError struct {
	Operation, ErrorCode string
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	b.WriteString("atlas: ")
	b.WriteString(e.Operation)
	b.WriteString(": HTTP 403")
	if e.ErrorCode != "" {
		b.WriteString(" " + e.ErrorCode)
	}
	on := "project"
	if e.Operation == spec.GetOrg.Name {
		on = "organization"
	}
	b.WriteString(": the credentials need the " + RoleRequired(e.Operation) + " role on the " + on)
	return b.String()
}

// Refused returns err as a RefusedError when Atlas answered it with 403, or nil.
func Refused(err error) *RefusedError {
	var ae *Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 {
		return nil
	}
	return &RefusedError{Operation: ae.Operation, ErrorCode: ae.ErrorCode}
}
