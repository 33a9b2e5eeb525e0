package deploy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
)

// RepoRoot walks up from dir to the directory whose go.mod declares the
// netcause module.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/netcause/netcause\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module github.com/netcause/netcause above the working directory")
		}
		dir = parent
	}
}

// Paths of the files the deployment is made of, relative to the repository
// root.
const (
	ReadmePath      = "README.md"
	AlertsDir       = "alerts"
	DashboardsDir   = "dashboards"
	ChartDir        = "deploy/kubernetes/netcause"
	ChartValues     = ChartDir + "/values.yaml"
	ChartAlertsDir  = ChartDir + "/files/alerts"
	ChartDashDir    = ChartDir + "/files/dashboards"
	ManifestsDir    = "deploy/kubernetes/manifests"
	UnitPath        = "deploy/systemd/netcause_exporter.service"
	ManifestRelease = "netcause"
	// ManifestNamespace is where the plain manifests put everything; users
	// without Helm who want another namespace edit it (docs/deploy.md).
	ManifestNamespace = "monitoring"
)

// BinDir holds the tools tools.sh builds, relative to the repository root.
const BinDir = "test/deploy/.bin"
