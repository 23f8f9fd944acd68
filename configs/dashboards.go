package configs

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Dashboard is the part of a Grafana dashboard the project checks: panels and their queries.
type Dashboard struct {
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is a Grafana panel; rows hold nested panels.
type Panel struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Description string   `json:"description"`
	Targets     []Target `json:"targets"`
	Panels      []Panel  `json:"panels"`
}

// Target is one PromQL query of a panel.
type Target struct {
	Expr string `json:"expr"`
}

// LoadDashboard reads a Grafana dashboard JSON file.
func LoadDashboard(path string) (*Dashboard, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", path, err)
	}
	return &d, nil
}

// AllPanels returns the dashboard's panels, those inside rows included, rows themselves excluded.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// dashboardVariables are substituted in queries as Grafana would with every route and candidate
// selected and a one-minute step.
var dashboardVariables = strings.NewReplacer(
	"$route", ".*",
	"$candidate", ".*",
	"$__rate_interval", "1m",
	"$__interval", "1m",
	"$__range", "5m",
)

// DashboardQueries returns every PromQL query of the dashboard at path, with its template variables
// substituted (all routes and candidates, one-minute intervals), ready to run against Prometheus.
func DashboardQueries(path string) ([]string, error) {
	d, err := LoadDashboard(path)
	if err != nil {
		return nil, err
	}
	var qs []string
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			qs = append(qs, dashboardVariables.Replace(t.Expr))
		}
	}
	return qs, nil
}
