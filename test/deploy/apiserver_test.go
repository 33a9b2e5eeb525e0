package deploy_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netcause/netcause/test/deploy"
)

// cluster is a kube-apiserver with its etcd, both on loopback, started by
// the test and stopped when it ends. No controller-manager, scheduler or
// kubelet: objects are only validated and stored.
type cluster struct {
	t          *testing.T
	kubeconfig string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()

	etcdClient, etcdPeer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	etcd := start(t, exec.Command(tool(t, "etcd"),
		"--name", "deploy-test", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdClient, "--advertise-client-urls", etcdClient,
		"--listen-peer-urls", etcdPeer, "--initial-advertise-peer-urls", etcdPeer,
		"--initial-cluster", "deploy-test="+etcdPeer,
		"--unsafe-no-fsync", "--log-level", "warn"))
	code, body := waitHTTP(t, etcd, nil, func() *http.Request {
		r, _ := http.NewRequest("GET", etcdClient+"/health", nil)
		return r
	})
	if code != http.StatusOK {
		t.Fatalf("etcd /health: %d %s", code, body)
	}

	// Service-account signing key (required flags), and a static token of
	// a system:masters user for kubectl.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	saKey := write("sa.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	saPub := write("sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	tokens := write("tokens.csv", []byte(token+",deploy-test,deploy-test,system:masters\n"))

	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	certDir := filepath.Join(dir, "certs")
	api := start(t, exec.Command(tool(t, "kube-apiserver"),
		"--etcd-servers", etcdClient,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", port,
		"--cert-dir", certDir,
		"--token-auth-file", tokens,
		"--authorization-mode", "AlwaysAllow",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saPub, "--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.213.0.0/24",
		"--enable-priority-and-fairness=false",
		"--profiling=false"))

	// The self-signed serving certificate appears in certDir at start.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	began := time.Now()
	for {
		code, body = waitHTTP(t, api, client, func() *http.Request {
			r, _ := http.NewRequest("GET", "https://"+addr+"/readyz", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			return r
		})
		if code == http.StatusOK {
			break
		}
		if time.Since(began) > 2*time.Minute {
			t.Fatalf("kube-apiserver not ready after 2 minutes: %d %s\n%s", code, body, api.out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("kube-apiserver ready in %s", time.Since(began).Round(100*time.Millisecond))

	ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := write("kubeconfig", []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: deploy-test
  cluster:
    server: https://%s
    certificate-authority-data: %s
users:
- name: deploy-test
  user:
    token: %s
contexts:
- name: deploy-test
  context: {cluster: deploy-test, user: deploy-test}
current-context: deploy-test
`, addr, b64(ca), token)))
	return &cluster{t: t, kubeconfig: kubeconfig}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func (c *cluster) kubectl(args ...string) (string, error) {
	c.t.Helper()
	return run(c.t, 2*time.Minute, tool(c.t, "kubectl"), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

func (c *cluster) mustKubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// dryRun applies a manifest file with server-side dry-run and strict field
// validation, as a user would apply it, and checks every object was
// accepted.
func (c *cluster) dryRun(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := len(parseDocs(t, string(b)))
	out, err := c.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", file)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server --validate=strict -f %s: %v\n%s", file, err, out)
	}
	if got := strings.Count(out, "(server dry run)"); got != want {
		t.Errorf("%s: %d of %d objects accepted:\n%s", filepath.Base(file), got, want, out)
	}
	if strings.Contains(strings.ToLower(out), "warning") {
		t.Errorf("%s: warnings from the API server:\n%s", filepath.Base(file), out)
	}
}

var unknownField = regexp.MustCompile(`unknown field|field not declared in schema`)

func TestKubernetesDryRun(t *testing.T) {
	root := repoRoot(t)
	c := startCluster(t)

	// What a cluster has before netcause: its namespaces (with the default
	// ServiceAccount a controller-manager would make) and the Prometheus
	// Operator's CRDs.
	for _, ns := range []string{"monitoring", "grafana"} {
		c.mustKubectl("create", "namespace", ns)
		c.mustKubectl("-n", ns, "create", "serviceaccount", "default")
	}
	crds := filepath.Join(root, deploy.BinDir, "crds")
	c.mustKubectl("apply", "--server-side", "-f", filepath.Join(crds, "servicemonitors.yaml"), "-f", filepath.Join(crds, "prometheusrules.yaml"))
	c.mustKubectl("wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")

	// The plain manifests as shipped.
	entries, err := os.ReadDir(filepath.Join(root, deploy.ManifestsDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run("manifests/"+e.Name(), func(t *testing.T) {
			c.dryRun(t, filepath.Join(root, deploy.ManifestsDir, e.Name()))
		})
	}

	// The chart with every option on, and with the fixture rule file and
	// dashboard, so the PrometheusRule and ConfigMap templates are checked
	// even before alerts/ and dashboards/ have files.
	for name, chart := range map[string]string{"chart/full": chartDir(t), "chart/fixtures": chartWithFixtures(t)} {
		t.Run(name, func(t *testing.T) {
			out := mustRun(t, 2*time.Minute, tool(t, "helm"), "template", "netcause", chart,
				"--namespace", "monitoring", "--values", fullValues(t))
			file := filepath.Join(t.TempDir(), "rendered.yaml")
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			c.dryRun(t, file)
		})
	}

	// Dry-run stored nothing.
	if out := c.mustKubectl("-n", "monitoring", "get", "daemonsets,services,servicemonitors,prometheusrules", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("server dry-run stored objects:\n%s", out)
	}

	// The checks can fail: an unknown field is refused, in a core object
	// and in a CRD-defined one.
	t.Run("unknown fields fail", func(t *testing.T) {
		for _, tc := range []struct{ kind, file, after, field string }{
			{"DaemonSet", "netcause.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFS: true"},
			{"ServiceMonitor", "prometheus-operator.yaml", "scrapeTimeout:", "scrapeEvery: 30s"},
		} {
			src, err := os.ReadFile(filepath.Join(root, deploy.ManifestsDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			bad, ok := insertSibling(string(src), tc.after, tc.field)
			if !ok {
				t.Fatalf("%s: no line with %q to add a field beside", tc.file, tc.after)
			}
			file := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := c.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", file)
			if err == nil || !unknownField.MatchString(out) || !strings.Contains(out, strings.Split(tc.field, ":")[0]) {
				t.Errorf("%s with an unknown field: err %v, want an unknown-field error naming it:\n%s", tc.kind, err, out)
			}
		}
	})
}

// insertSibling adds line, indented like the first line containing after,
// right below it: a new key in the same mapping.
func insertSibling(src, after, line string) (string, bool) {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if strings.Contains(l, after) {
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			lines = append(lines[:i+1], append([]string{indent + line}, lines[i+1:]...)...)
			return strings.Join(lines, "\n"), true
		}
	}
	return "", false
}
