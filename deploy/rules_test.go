package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestRulesWithPromtool checks the rules and runs their unit tests under every Prometheus
// release the tests know (Prometheus 2 and 3 differ, in the lookback window for one).
func TestRulesWithPromtool(t *testing.T) {
	t.Parallel()
	for _, p := range testenv.Prometheuses(t) {
		t.Run("prometheus-"+p.Version, func(t *testing.T) {
			t.Parallel()
			run(t, p.Promtool, "check", "rules", "prometheus/alerts.yml")
			if out := run(t, p.Promtool, "test", "rules", "prometheus/alerts_test.yml"); !strings.Contains(out, "SUCCESS") {
				t.Errorf("promtool test rules:\n%s", out)
			}
			run(t, p.Promtool, "check", "config", "prometheus/prometheus.yml")
		})
	}
}

// TestEveryAlertIsUnitTested keeps alerts_test.yml covering every alert with a firing case.
func TestEveryAlertIsUnitTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	var tests struct {
		GroupEvalOrder []string `yaml:"group_eval_order"`
		Tests          []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	var groups []string
	for _, g := range rules.Groups {
		groups = append(groups, g.Name)
		for _, r := range g.Rules {
			if r.Alert != "" && !fires[r.Alert] {
				t.Errorf("alert %s has no unit test in which it fires", r.Alert)
			}
		}
	}
	// Without a full order promtool evaluates groups in random order, and the
	// alerts read the recording rules one step late in some runs only.
	if !slices.Equal(tests.GroupEvalOrder, groups) {
		t.Errorf("alerts_test.yml group_eval_order = %q, want every group in file order %q", tests.GroupEvalOrder, groups)
	}
}
