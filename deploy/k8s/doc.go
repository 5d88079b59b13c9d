// Package k8s holds the facade's Kubernetes manifests (kustomize): base/,
// the facade for a real cluster; overlays/demo/, a demonstration with its
// own Redis, PostgreSQL and simulators; kustomization.yaml, what `kubectl
// kustomize deploy/k8s` renders (the base). It has no code: its test
// renders every kustomization offline, decodes each object strictly into
// the Kubernetes API types and checks the invariants the facade relies on.
package k8s
