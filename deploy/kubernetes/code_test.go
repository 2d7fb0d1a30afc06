package kubernetes

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/handlers/httpapi"
)

// serviceFacts is what cmd/orders reads and serves, taken from its source, so the manifests
// are checked against the code rather than against a second copy of its defaults.
type serviceFacts struct {
	defaults map[string]string     // env("NAME", "default") calls in config.go
	secrets  map[string]bool       // secret("NAME", ...) calls: NAME_FILE is read too
	envNames map[string]bool       // every upper-case string literal of cmd/orders: the variables it may read
	admin    func(path string) int // the status the admin mux answers a GET of path with
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)

func readServiceFacts(t testing.TB) serviceFacts {
	t.Helper()
	f := serviceFacts{defaults: map[string]string{}, secrets: map[string]bool{}, envNames: map[string]bool{}}
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "cmd", "orders", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("cmd/orders sources: %v", err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			f.collect(n)
			return true
		})
	}
	if len(f.defaults) == 0 || len(f.secrets) == 0 {
		t.Fatal("cmd/orders: no env(...) or secret(...) calls found: has config.go changed shape? update code_test.go")
	}
	mux := http.NewServeMux()
	httpapi.AdminRoutes(mux, prometheus.NewRegistry(), nil)
	f.admin = func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	return f
}

func (f serviceFacts) collect(n ast.Node) {
	switch n := n.(type) {
	case *ast.BasicLit:
		if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && envName.MatchString(s) {
			f.envNames[s] = true
		}
	case *ast.CallExpr:
		fn, ok := n.Fun.(*ast.Ident)
		if !ok || len(n.Args) != 2 {
			return
		}
		name, ok1 := stringLit(n.Args[0])
		def, ok2 := stringLit(n.Args[1])
		switch {
		case fn.Name == "env" && ok1 && ok2:
			f.defaults[name] = def
		case fn.Name == "secret" && ok1:
			f.secrets[name] = true
		}
	}
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// defaultPort is the port of an address default such as ":8081".
func (f serviceFacts) defaultPort(t testing.TB, name string) int32 {
	t.Helper()
	addr, ok := f.defaults[name]
	if !ok {
		t.Fatalf("cmd/orders has no default for %s", name)
	}
	_, port, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		t.Fatalf("%s default %q: no port", name, addr)
	}
	return int32(n)
}

// reads reports whether the service reads the variable: a literal in its code, or NAME_FILE of
// a secret.
func (f serviceFacts) reads(name string) bool {
	return f.envNames[name] || (strings.HasSuffix(name, "_FILE") && f.secrets[strings.TrimSuffix(name, "_FILE")])
}
