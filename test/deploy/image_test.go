package deploy_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildah drives one throwaway vfs store: the images the test makes never
// reach the machine's own store. Cache mounts (compiled packages) live
// under .bin/buildah-tmp, so a second run compiles less.
type buildah struct {
	t    *testing.T
	bin  string
	args []string
	env  []string
}

func newBuildah(t *testing.T) *buildah {
	bin := hostTool(t, "buildah", "buildah")
	store := t.TempDir()
	tmp := filepath.Join(repoRoot(t), "test/deploy/.bin/buildah-tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &buildah{t: t, bin: bin,
		args: []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"},
		env:  append(os.Environ(), "TMPDIR="+tmp, "BUILDAH_ISOLATION=chroot"),
	}
	t.Cleanup(func() {
		// Containers hold vfs copies; remove them before the store goes.
		exec.Command(bin, append(b.args, "rm", "--all")...).Run()
		exec.Command(bin, append(b.args, "rmi", "--all", "--force")...).Run()
	})
	return b
}

func (b *buildah) cmd(args ...string) *exec.Cmd {
	c := exec.Command(b.bin, append(slices.Clone(b.args), args...)...)
	c.Env = b.env
	return c
}

func (b *buildah) run(timeout time.Duration, args ...string) string {
	b.t.Helper()
	c := b.cmd(args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = c.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		c.Process.Kill()
		<-done
		b.t.Fatalf("buildah %s: timed out after %s\n%s", strings.Join(args, " "), timeout, out)
	}
	if err != nil {
		b.t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// goBase makes the build stage's base without a registry: FROM scratch
// plus this machine's Go toolchain and a shell (the Dockerfile's RUN uses
// /bin/sh), offline (GOPROXY=off; the context carries vendor/).
func (b *buildah) goBase(name string) {
	t := b.t
	goroot := strings.TrimSpace(mustRun(t, time.Minute, "go", "env", "GOROOT"))
	ctr := b.run(time.Minute, "from", "scratch")
	b.run(5*time.Minute, "copy", ctr, goroot, "/usr/local/go")
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	b.run(time.Minute, "copy", ctr, sh, "/bin/sh")
	// The shell's shared libraries, where its ELF header says they are.
	libs := regexp.MustCompile(`(/\S+) \(0x`).FindAllStringSubmatch(mustRun(t, time.Minute, "ldd", sh), -1)
	if len(libs) == 0 {
		t.Fatalf("ldd %s: no libraries found", sh)
	}
	for _, m := range libs {
		b.run(time.Minute, "copy", ctr, m[1], m[1])
	}
	empty := t.TempDir()
	b.run(time.Minute, "copy", ctr, empty, "/tmp")
	b.run(time.Minute, "config", "--env", "PATH=/usr/local/go/bin:/bin", "--env", "GOTOOLCHAIN=local",
		"--env", "GOPROXY=off", "--env", "HOME=/root", ctr)
	b.run(5*time.Minute, "commit", "--rm", ctr, name)
}

// buildContext copies the working tree (not .git, tool caches or
// node_modules; the Dockerfile's .dockerignore does the rest) and vendors
// the modules, so the image builds without network.
func buildContext(t *testing.T) string {
	root := repoRoot(t)
	ctx := t.TempDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case rel == ".git", rel == "bin", d.Name() == ".bin", d.Name() == "node_modules":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(ctx, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(ctx, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "mod", "vendor")
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	return ctx
}

func TestImage(t *testing.T) {
	b := newBuildah(t)
	const base, image = "localhost/netcause-go-build:deploy-test", "localhost/netcause_exporter:deploy-test"
	began := time.Now()
	b.goBase(base)
	t.Logf("Go base image: %s", time.Since(began).Round(time.Second))

	ctx := buildContext(t)
	began = time.Now()
	b.run(20*time.Minute, "bud", "--isolation", "chroot", "--pull=never", "--layers=false",
		"--build-arg", "GO_IMAGE="+base, "--build-arg", "VERSION=deploy-test", "--build-arg", "REVISION=abc1234",
		"-f", filepath.Join(ctx, "Dockerfile"), "-t", image, ctx)
	t.Logf("image build: %s", time.Since(began).Round(time.Second))

	var inspect struct {
		OCIv1 struct {
			Config struct {
				User         string
				Entrypoint   []string
				ExposedPorts map[string]struct{}
				Labels       map[string]string
			}
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
	}
	if err := json.Unmarshal([]byte(b.run(time.Minute, "inspect", "--type", "image", image)), &inspect); err != nil {
		t.Fatal(err)
	}
	cfg := inspect.OCIv1.Config
	if cfg.User != "65534:65534" {
		t.Errorf("image user %q, want the non-root 65534:65534", cfg.User)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/bin/netcause_exporter"}) {
		t.Errorf("entrypoint %v", cfg.Entrypoint)
	}
	if _, ok := cfg.ExposedPorts["10717/tcp"]; !ok {
		t.Errorf("exposed ports %v lack 10717/tcp", cfg.ExposedPorts)
	}
	for k, v := range map[string]string{"org.opencontainers.image.version": "deploy-test",
		"org.opencontainers.image.revision": "abc1234", "org.opencontainers.image.source": "https://github.com/netcause/netcause"} {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}
	if n := len(inspect.OCIv1.RootFS.DiffIDs); n != 1 {
		t.Errorf("%d layers; the runtime image is scratch plus the binary", n)
	}

	ctr := b.run(time.Minute, "from", "--pull=never", image)
	// Nothing in the image but the exporter.
	mnt := b.run(time.Minute, "mount", ctr)
	var files []string
	filepath.WalkDir(mnt, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(mnt, path)
			files = append(files, rel)
		}
		return nil
	})
	b.run(time.Minute, "umount", ctr)
	if !slices.Equal(files, []string{"bin/netcause_exporter"}) {
		t.Errorf("image files %v, want only bin/netcause_exporter", files)
	}

	// The exporter in the image, as the image's user, serves /metrics.
	addr := freeAddr(t)
	srv := start(t, b.cmd("run", "--isolation", "chroot", ctr, "--", "/bin/netcause_exporter", "--web.listen-address="+addr))
	body := scrape(t, srv, addr)
	if !regexp.MustCompile(`(?m)^netcause_build_info\{.*version="deploy-test".*\} 1$`).MatchString(body) {
		t.Errorf("no netcause_build_info with the build's version in /metrics:\n%s", grep(body, "netcause_build_info"))
	}
	ok := regexp.MustCompile(`(?m)^netcause_scrape_collector_success\{[^}]*collector="snmp"[^}]*\} 1$`)
	if !ok.MatchString(body) {
		t.Errorf("snmp collector does not succeed inside the image:\n%s", grep(body, "netcause_scrape_collector_success"))
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
