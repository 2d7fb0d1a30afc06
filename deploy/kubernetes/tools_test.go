package kubernetes

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is two levels up: go test runs in deploy/kubernetes.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

// makeVar reads `NAME := value` from the Makefile, so the versions the tests want are the
// ones `make deploy-tools` installs, written once.
func makeVar(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatalf("read Makefile: %v", err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*[:?]?=\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("Makefile sets no %s", name)
	}
	return string(m[1])
}

// tool finds name at the version the Makefile pins: in $TOOLS_BIN, the repository's
// bin/tools (where `make deploy-tools` installs), then PATH. Missing or another version fails
// the test with the command that installs it: these checks are never skipped.
func tool(t testing.TB, name, versionVar string, versionArgs ...string) string {
	t.Helper()
	want := makeVar(t, versionVar)
	var candidates, seen []string
	if dir := os.Getenv("TOOLS_BIN"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, name))
	}
	candidates = append(candidates, filepath.Join(repoRoot(t), "bin", "tools", name))
	if p, err := exec.LookPath(name); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		out, err := exec.Command(c, versionArgs...).CombinedOutput()
		if err != nil {
			continue
		}
		if versionIs(string(out), want) {
			return c
		}
		seen = append(seen, c+": "+strings.TrimSpace(string(out)))
	}
	t.Fatalf("%s %s not found (looked in $TOOLS_BIN, bin/tools, PATH; found %q): run `make deploy-tools`", name, want, seen)
	return ""
}

// versionIs reports whether a tool's version output names exactly want (v5.8.2 is not v5.8.20).
func versionIs(out, want string) bool {
	return regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(want) + `($|[^0-9.])`).MatchString(strings.TrimSpace(out))
}

func kustomizeBuild(t testing.TB, dir string) []byte {
	t.Helper()
	bin := tool(t, "kustomize", "KUSTOMIZE_VERSION", "version")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "build", filepath.Join(repoRoot(t), dir))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	return stdout.Bytes()
}

// natsCheck runs `nats-server -t -c` on conf with env added to a minimal environment: the
// real server's parser, variables resolved as the pod or container would resolve them.
func natsCheck(t testing.TB, conf string, env map[string]string) {
	t.Helper()
	bin := tool(t, "nats-server", "NATS_SERVER_VERSION", "--version")
	cmd := exec.Command(bin, "-t", "-c", conf)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nats-server -t -c %s with %v: %v\n%s", conf, env, err, out)
	}
}
