module github.com/atlas-backup-exporter/atlas_backup_exporter

go 1.26.8

require (
	github.com/icholy/digest v1.2.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/oauth2 v0.37.0
	golang.org/x/sync v0.24.0
	golang.org/x/time v0.16.0
)

require github.com/google/go-cmp v0.7.0 // indirect
