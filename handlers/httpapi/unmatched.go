package httpapi

import (
	"net/http"
	"strings"
)

// fallbackPattern matches every request no other pattern of a mux matches.
const fallbackPattern = "/"

// handleUnmatched answers, on mux, the requests none of its routes match: 404, or 405 with
// Allow when the path has routes for other methods. ServeMux's own answers are text/plain;
// these are problem+json (RFC 9457) like every other error of the API.
func handleUnmatched(mux *http.ServeMux) {
	mux.HandleFunc(fallbackPattern, func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, Problem{Status: http.StatusMethodNotAllowed, Detail: "this route does not take " + r.Method})
			return
		}
		writeProblem(w, Problem{Status: http.StatusNotFound, Detail: "no such resource"})
	})
}

// allowedMethods lists the methods mux has a route for at r's path, by asking mux which
// pattern each would match (the fallback does not count).
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != fallbackPattern {
			allow = append(allow, m)
		}
	}
	return allow
}
