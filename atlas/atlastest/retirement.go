package atlastest

import (
	"net/http"
	"time"
)

// OpVersion names one operation at one resource version.
type OpVersion struct{ Operation, Version string }

// Retirement is what the answers to one operation at one resource version say in their
// Deprecation and Sunset headers, as written there; an empty value sends no header.
type Retirement struct{ Deprecation, Sunset string }

func (r Retirement) set(h http.Header) {
	if r.Deprecation != "" {
		h.Set("Deprecation", r.Deprecation)
	}
	if r.Sunset != "" {
		h.Set("Sunset", r.Sunset)
	}
}

// AtlasDate writes t as Atlas writes the dates of these headers: with a day of one digit where
// it has one ("Thu, 1 Jul 2027 00:00:00 GMT"), unlike http.TimeFormat.
func AtlasDate(t time.Time) string { return t.UTC().Format("Mon, 2 Jan 2006 15:04:05 GMT") }

func day(y int, m time.Month, d int) string {
	return AtlasDate(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
}

// DefaultRetirements are the headers the fake sends unless told otherwise: on every operation
// and version it serves that the OpenAPI description marks deprecated or gives a sunset date,
// with that date as Sunset. The description gives no deprecation dates; the fake takes the day
// the replacement came: the operation's next version, the Flex API (2024-11-13) for the tenant
// and serverless endpoints, and Cloud Backup becoming the only backup of new clusters
// (2020-03-23) for legacy backup.
func DefaultRetirements() map[OpVersion]Retirement {
	flex := day(2024, time.November, 13)
	gone := Retirement{Deprecation: flex, Sunset: day(2026, time.January, 22)}
	legacy := Retirement{Deprecation: day(2020, time.March, 23)}
	return map[OpVersion]Retirement{
		{"listGroupClusters", "2023-01-01"}:                     {Deprecation: day(2023, time.February, 1), Sunset: day(2027, time.July, 1)},
		{"listGroupClusters", "2023-02-01"}:                     {Deprecation: day(2024, time.August, 5), Sunset: day(2027, time.July, 1)},
		{"listGroupServerlessInstances", "2023-01-01"}:          {Deprecation: flex, Sunset: day(2027, time.January, 18)},
		{"listGroupServerlessBackupSnapshots", "2023-01-01"}:    gone,
		{"getGroupServerlessBackupSnapshot", "2023-01-01"}:      gone,
		{"listGroupClusterBackupTenantSnapshots", "2023-01-01"}: gone,
		{"getGroupClusterBackupTenantSnapshot", "2023-01-01"}:   gone,
		{"listGroupClusterSnapshots", "2023-01-01"}:             legacy,
		{"getGroupClusterSnapshot", "2023-01-01"}:               legacy,
	}
}
