package collector

import "github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"

// Snapshots whose data cannot be right keep their per-snapshot series as Atlas gave them, but
// stay out of what they would falsify: one dated in the future would be the newest snapshot,
// with a negative age, for years, and a negative size would cancel out the others in
// storage_bytes.

var futureSnapshots = desc("future_snapshots", "Snapshots Atlas dates more than the clock-skew tolerance ("+atlas.ClockSkew.String()+") after they were read: Atlas's clock or this host's is wrong. They keep their per-snapshot series but are left out of snapshots, last_snapshot_status and the newest, oldest, fallback and copied snapshot timestamps, where they would hide snapshots that stop coming.", targetLabels)
