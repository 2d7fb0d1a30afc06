// Package kubernetes holds no code: its tests check the manifests beside it (base/ and
// overlays/), the NATS configurations they and docker-compose.yml use, and the compose file's
// cluster, against what cmd/orders serves and reads. `make check-deploy` runs them; so does
// `go test ./...`, which fails, and says how to install them, when kustomize or nats-server
// 2.15 is missing.
package kubernetes
