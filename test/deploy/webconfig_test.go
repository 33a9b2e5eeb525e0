package deploy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example password of deploy/systemd/web-config.yml, as its comment
// says; the hash there must match it.
const exampleUser, examplePassword = "prometheus", "netcause-example"

// selfSigned writes tls.crt and tls.key for 127.0.0.1 into dir and returns
// a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "netcause deploy test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// The example web config, used as shipped (its relative certificate paths
// resolve against its own directory): TLS with basic auth.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	example, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/systemd/web-config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), `password is "`+examplePassword+`"`) {
		t.Fatalf("web-config.yml no longer documents the example password %q", examplePassword)
	}
	config := filepath.Join(dir, "web-config.yml")
	if err := os.WriteFile(config, example, 0o600); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	p := start(t, exec.Command(exporter(t), "--web.listen-address="+addr, "--web.config.file="+config))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(user, pass string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
			if user != "" {
				r.SetBasicAuth(user, pass)
			}
			return r
		}
	}

	code, body := waitHTTP(t, p, client, get(exampleUser, examplePassword))
	if code != http.StatusOK || !strings.Contains(body, "netcause_build_info") {
		t.Errorf("right credentials: %d, want 200 with metrics\n%.300s", code, body)
	}
	for name, req := range map[string]func() *http.Request{
		"wrong password": get(exampleUser, "not-the-password"),
		"unknown user":   get("admin", examplePassword),
		"no credentials": get("", ""),
	} {
		if code, body := waitHTTP(t, p, client, req); code != http.StatusUnauthorized || strings.Contains(body, "netcause_") {
			t.Errorf("%s: %d, want 401 without metrics\n%.300s", name, code, body)
		}
	}

	// Plain HTTP to the TLS port, even with the right credentials: Go's
	// TLS server answers 400 and serves nothing.
	plain := func() *http.Request {
		r, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		r.SetBasicAuth(exampleUser, examplePassword)
		return r
	}
	if code, body := waitHTTP(t, p, nil, plain); code != http.StatusBadRequest || strings.Contains(body, "netcause_") {
		t.Errorf("plain HTTP to the TLS port: %d, want 400 without metrics\n%.300s", code, body)
	}

	// min_version TLS12: an older client cannot connect.
	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 client connected; the example sets min_version TLS12")
	}
}
