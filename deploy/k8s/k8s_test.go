package k8s_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/carerecords/fhir-facade/audit/pgaudit"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// shutdownTimeout is how long cmd/facade waits for requests in flight
// after SIGTERM (srv.Shutdown's deadline in cmd/facade/main.go).
const shutdownTimeout = 15 * time.Second

// kustomizations are the directories rendered, as `kubectl kustomize DIR`.
var kustomizations = []string{".", "base", "overlays/demo"}

// kinds are the only kinds the manifests may hold, each decoded into its
// API type: an unknown kind is an error, so a new one comes with its checks.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Namespace":               {"v1", func() any { return &corev1.Namespace{} }},
	"ServiceAccount":          {"v1", func() any { return &corev1.ServiceAccount{} }},
	"ConfigMap":               {"v1", func() any { return &corev1.ConfigMap{} }},
	"Secret":                  {"v1", func() any { return &corev1.Secret{} }},
	"Service":                 {"v1", func() any { return &corev1.Service{} }},
	"Deployment":              {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"StatefulSet":             {"apps/v1", func() any { return &appsv1.StatefulSet{} }},
	"HorizontalPodAutoscaler": {"autoscaling/v2", func() any { return &autoscalingv2.HorizontalPodAutoscaler{} }},
	"PodDisruptionBudget":     {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }},
	"NetworkPolicy":           {"networking.k8s.io/v1", func() any { return &networkingv1.NetworkPolicy{} }},
}

// rendered is one kustomization's output, every object decoded.
type rendered struct {
	dir     string
	objects []any
	json    map[string][]byte // kind/namespace/name → the object as rendered (JSON)
}

// render builds dir as `kubectl kustomize` does, offline, and decodes every
// object strictly: unknown or duplicate fields fail.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	r := rendered{dir: dir, json: map[string][]byte{}}
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSONStrict(y)
		if err != nil {
			t.Fatalf("%s: %s/%s: %v", dir, res.GetKind(), res.GetName(), err)
		}
		k, ok := kinds[res.GetKind()]
		if !ok {
			t.Fatalf("%s: kind %s has no checks here: add it to kinds and check it", dir, res.GetKind())
		}
		if res.GetApiVersion() != k.apiVersion {
			t.Errorf("%s: %s/%s is %s, want %s", dir, res.GetKind(), res.GetName(), res.GetApiVersion(), k.apiVersion)
		}
		obj := k.new()
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Fatalf("%s: %s/%s does not decode strictly into %T: %v", dir, res.GetKind(), res.GetName(), obj, err)
		}
		r.objects = append(r.objects, obj)
		r.json[res.GetKind()+"/"+res.GetNamespace()+"/"+res.GetName()] = j
	}
	if len(r.objects) == 0 {
		t.Fatalf("%s renders nothing", dir)
	}
	return r
}

func all[T any](r rendered) []*T {
	var out []*T
	for _, o := range r.objects {
		if v, ok := o.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// workload is a Deployment's or StatefulSet's pods.
type workload struct {
	kind, namespace, name string
	replicas              int32
	selector              *metav1.LabelSelector
	pod                   corev1.PodTemplateSpec
	claims                []string // a StatefulSet's volumeClaimTemplates: volumes too
}

func workloads(r rendered) []workload {
	var out []workload
	for _, d := range all[appsv1.Deployment](r) {
		out = append(out, workload{"Deployment", d.Namespace, d.Name, ptrOr(d.Spec.Replicas, 1), d.Spec.Selector, d.Spec.Template, nil})
	}
	for _, s := range all[appsv1.StatefulSet](r) {
		w := workload{"StatefulSet", s.Namespace, s.Name, ptrOr(s.Spec.Replicas, 1), s.Spec.Selector, s.Spec.Template, nil}
		for _, c := range s.Spec.VolumeClaimTemplates {
			w.claims = append(w.claims, c.Name)
		}
		out = append(out, w)
	}
	return out
}

func ptrOr[T any](p *T, d T) T {
	if p == nil {
		return d
	}
	return *p
}

// facade returns the facade's Deployment and its container.
func facade(t *testing.T, r rendered) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	for _, d := range all[appsv1.Deployment](r) {
		if d.Name == "facade" {
			for i, c := range d.Spec.Template.Spec.Containers {
				if c.Name == "facade" {
					return d, &d.Spec.Template.Spec.Containers[i]
				}
			}
		}
	}
	t.Fatalf("%s: no Deployment facade with a container facade", r.dir)
	return nil, nil
}

func matches(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

// TestManifests renders every kustomization and checks each invariant.
func TestManifests(t *testing.T) {
	checks := []struct {
		name  string
		check func(*testing.T, rendered)
	}{
		{"workloads", checkWorkloads},
		{"services", checkServices},
		{"facade", checkFacade},
		{"scaling", checkScaling},
		{"network", checkNetwork},
		{"references", checkReferences},
		{"environment", checkEnvironment},
	}
	for _, dir := range kustomizations {
		r := render(t, dir)
		for _, c := range checks {
			t.Run(dir+"/"+c.name, func(t *testing.T) { c.check(t, r) })
		}
	}
}

// checkWorkloads: every pod runs as non-root on a read-only root, without
// privileges or a service account token, with requests, limits and probes.
func checkWorkloads(t *testing.T, r rendered) {
	ws := workloads(r)
	if len(ws) == 0 {
		t.Fatal("no workload")
	}
	for _, w := range ws {
		id := w.kind + "/" + w.name
		if !matches(t, w.selector, w.pod.Labels) {
			t.Errorf("%s: selector %v does not select its pods' labels %v", id, w.selector, w.pod.Labels)
		}
		spec := w.pod.Spec
		// The pod's setting wins over its service account's.
		if ptrOr(spec.AutomountServiceAccountToken, !automountOff(r, w.namespace, spec.ServiceAccountName)) {
			t.Errorf("%s: mounts a service account token", id)
		}
		pod := ptrOr(spec.SecurityContext, corev1.PodSecurityContext{})
		volumes := map[string]bool{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = true
		}
		for _, c := range w.claims {
			volumes[c] = true
		}
		for _, c := range spec.Containers {
			cid := id + " container " + c.Name
			sc := ptrOr(c.SecurityContext, corev1.SecurityContext{})
			if !ptrOr(sc.RunAsNonRoot, ptrOr(pod.RunAsNonRoot, false)) {
				t.Errorf("%s: runAsNonRoot is not true", cid)
			}
			if uid := ptrOr(sc.RunAsUser, ptrOr(pod.RunAsUser, 0)); uid == 0 {
				t.Errorf("%s: no non-zero runAsUser (the kubelet cannot check runAsNonRoot on a named user)", cid)
			}
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = pod.SeccompProfile
			}
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp profile is not RuntimeDefault", cid)
			}
			if ptrOr(sc.AllowPrivilegeEscalation, true) || !ptrOr(sc.ReadOnlyRootFilesystem, false) || ptrOr(sc.Privileged, false) {
				t.Errorf("%s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, not privileged: %+v", cid, sc)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities must drop ALL and add none", cid)
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[res]
				lim, okLim := c.Resources.Limits[res]
				if !okReq || !okLim || req.IsZero() || req.Cmp(lim) > 0 {
					t.Errorf("%s: %s request %v and limit %v: want both, request ≤ limit", cid, res, req.String(), lim.String())
				}
			}
			if c.LivenessProbe == nil || c.ReadinessProbe == nil {
				t.Errorf("%s: liveness and readiness probes required", cid)
			}
			for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				if p == nil {
					continue
				}
				var port *intstr.IntOrString
				switch {
				case p.HTTPGet != nil:
					port = &p.HTTPGet.Port
				case p.TCPSocket != nil:
					port = &p.TCPSocket.Port
				}
				if port != nil && containerPort(c, *port) == 0 {
					t.Errorf("%s: a probe's port %s is not a port of the container", cid, port.String())
				}
			}
			if !regexp.MustCompile(`:[A-Za-z0-9._-]+$`).MatchString(c.Image) || strings.HasSuffix(c.Image, ":latest") {
				t.Errorf("%s: image %q: want an explicit tag, not latest", cid, c.Image)
			}
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] {
					t.Errorf("%s: mounts %s, which is no volume of the pod", cid, m.Name)
				}
			}
		}
	}
}

func automountOff(r rendered, ns, name string) bool {
	for _, sa := range all[corev1.ServiceAccount](r) {
		if sa.Namespace == ns && sa.Name == name {
			return sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken
		}
	}
	return false
}

// containerPort resolves a named or numbered port of c; 0 if c has none.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

// podsOf returns the pods a label selector (as a map) selects in ns.
func podsOf(t *testing.T, r rendered, ns string, sel map[string]string) []workload {
	var out []workload
	for _, w := range workloads(r) {
		if w.namespace == ns && matches(t, &metav1.LabelSelector{MatchLabels: sel}, w.pod.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// checkServices: every Service selects pods, by a named port they have.
func checkServices(t *testing.T, r rendered) {
	for _, s := range all[corev1.Service](r) {
		ws := podsOf(t, r, s.Namespace, s.Spec.Selector)
		if len(ws) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", s.Name, len(ws))
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Type != intstr.String {
				t.Errorf("Service %s port %s: targetPort %s must name a container port", s.Name, p.Name, p.TargetPort.String())
				continue
			}
			found := false
			for _, c := range ws[0].pod.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == p.TargetPort.StrVal && cp.Protocol == p.Protocol
				}
			}
			if !found {
				t.Errorf("Service %s port %s: %s has no %s port %s", s.Name, p.Name, ws[0].name, p.Protocol, p.TargetPort.StrVal)
			}
		}
	}
}

// checkFacade: the probes the facade serves, and a shutdown that drains
// within the grace period.
func checkFacade(t *testing.T, r rendered) {
	d, c := facade(t, r)
	if ptrOr(d.Spec.Replicas, 1) < 2 {
		t.Errorf("facade: %d replicas, want ≥ 2", ptrOr(d.Spec.Replicas, 1))
	}
	if containerPort(*c, intstr.FromString("http")) != 8080 {
		t.Errorf("facade: port http must be 8080, where the image's entrypoint listens")
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", c.StartupProbe, "/livez"}, {"liveness", c.LivenessProbe, "/livez"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") ||
			(p.probe.HTTPGet.Scheme != "" && p.probe.HTTPGet.Scheme != corev1.URISchemeHTTP) {
			t.Errorf("facade: %s probe %+v, want GET %s on port http", p.name, p.probe, p.path)
		}
	}
	if rp := c.ReadinessProbe; rp != nil {
		// A backend's circuit open makes /readyz 503 for its cool-down: a
		// replica must not leave the Service for that alone.
		if window := time.Duration(rp.PeriodSeconds*rp.FailureThreshold) * time.Second; window <= upstream.DefaultBreakerCooldown {
			t.Errorf("facade: readiness fails after %v, not longer than a breaker's cool-down (%v)", window, upstream.DefaultBreakerCooldown)
		}
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 5 {
		t.Fatalf("facade: want a preStop sleep of 5 s or more (the image has no shell), so load balancers drop the pod before SIGTERM")
	}
	sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(ptrOr(d.Spec.Template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
	if grace < sleep+shutdownTimeout+time.Second {
		t.Errorf("facade: terminationGracePeriodSeconds %v < preStop %v + the facade's drain %v", grace, sleep, shutdownTimeout)
	}
}

// checkScaling: the HPA keeps two replicas or more of the facade, and the
// PDB lets one go at a time yet never all of them.
func checkScaling(t *testing.T, r rendered) {
	d, _ := facade(t, r)
	hpas := all[autoscalingv2.HorizontalPodAutoscaler](r)
	if len(hpas) != 1 {
		t.Fatalf("%d HorizontalPodAutoscalers, want 1", len(hpas))
	}
	h := hpas[0]
	if ref := h.Spec.ScaleTargetRef; ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name || h.Namespace != d.Namespace {
		t.Errorf("HPA targets %+v, want the facade's Deployment", ref)
	}
	minR := ptrOr(h.Spec.MinReplicas, 1)
	if minR < 2 || h.Spec.MaxReplicas < minR || ptrOr(d.Spec.Replicas, 1) < minR {
		t.Errorf("HPA %d..%d, Deployment %d: want 2 ≤ min ≤ replicas, min ≤ max", minR, h.Spec.MaxReplicas, ptrOr(d.Spec.Replicas, 1))
	}
	if len(h.Spec.Metrics) == 0 {
		t.Error("HPA has no metric")
	}
	// While Redis is down each replica takes quota ÷ FACADE_EXPECTED_REPLICAS:
	// at the HPA's maximum the replicas together must stay within it.
	if n, err := strconv.Atoi(facadeEnv(t, r)["FACADE_EXPECTED_REPLICAS"]); err != nil || n < int(h.Spec.MaxReplicas) {
		t.Errorf("FACADE_EXPECTED_REPLICAS %q: want at least the HPA's maxReplicas (%d)", facadeEnv(t, r)["FACADE_EXPECTED_REPLICAS"], h.Spec.MaxReplicas)
	}
	pdbs := all[policyv1.PodDisruptionBudget](r)
	if len(pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(pdbs))
	}
	p := pdbs[0]
	if p.Namespace != d.Namespace || !matches(t, p.Spec.Selector, d.Spec.Template.Labels) || len(podsOf(t, r, p.Namespace, p.Spec.Selector.MatchLabels)) != 1 {
		t.Errorf("PDB selector %v must select the facade's pods and only them", p.Spec.Selector)
	}
	if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
		t.Fatalf("PDB: want one of minAvailable, maxUnavailable")
	}
	for _, n := range []int{int(minR), int(ptrOr(d.Spec.Replicas, 1)), int(h.Spec.MaxReplicas)} {
		var available int
		if p.Spec.MinAvailable != nil {
			v, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MinAvailable, n, true)
			if err != nil {
				t.Fatal(err)
			}
			available = v
		} else {
			v, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, n, true)
			if err != nil {
				t.Fatal(err)
			}
			available = n - v
		}
		if available < 1 || available >= n {
			t.Errorf("PDB at %d replicas keeps %d available: want 1 ≤ available < replicas (a node can drain, the service stays up)", n, available)
		}
	}
}

// egressPeer is a destination the facade must reach.
type egressPeer struct {
	name   string
	port   int32
	proto  corev1.Protocol
	labels map[string]string // a pod's labels in the facade's namespace
	ns     map[string]string // with labels: the namespace's labels, nil for the facade's own
	ip     string            // or an address
}

// checkNetwork: default deny, and the facade's traffic allowed and no more.
func checkNetwork(t *testing.T, r rendered) {
	d, _ := facade(t, r)
	pols := all[networkingv1.NetworkPolicy](r)
	deny := false
	for _, p := range pols {
		deny = deny || len(p.Spec.PodSelector.MatchLabels)+len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) &&
			len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 && p.Namespace == d.Namespace
	}
	if !deny {
		t.Error("no default-deny NetworkPolicy (all pods, ingress and egress, no rule)")
	}
	for _, p := range pols {
		for _, e := range p.Spec.Egress {
			if len(e.Ports) == 0 || len(e.To) == 0 {
				t.Errorf("NetworkPolicy %s: an egress rule without ports or destinations allows too much", p.Name)
			}
		}
		for _, in := range p.Spec.Ingress {
			if len(in.Ports) == 0 {
				t.Errorf("NetworkPolicy %s: an ingress rule without ports allows too much", p.Name)
			}
		}
	}
	fl := d.Spec.Template.Labels
	for _, peer := range []egressPeer{
		{name: "DNS over UDP", port: 53, proto: corev1.ProtocolUDP, labels: map[string]string{"k8s-app": "kube-dns"}, ns: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
		{name: "DNS over TCP", port: 53, proto: corev1.ProtocolTCP, labels: map[string]string{"k8s-app": "kube-dns"}, ns: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
		{name: "Redis", port: 6379, proto: corev1.ProtocolTCP, labels: map[string]string{"app.kubernetes.io/name": "redis"}},
		{name: "PostgreSQL", port: 5432, proto: corev1.ProtocolTCP, labels: map[string]string{"app.kubernetes.io/name": "postgresql"}},
		{name: "a national service (api.service.nhs.uk)", port: 443, proto: corev1.ProtocolTCP, ip: "20.49.241.1"},
	} {
		if !egressAllowed(t, pols, d.Namespace, fl, peer) {
			t.Errorf("the facade may not reach %s on %s/%d", peer.name, peer.proto, peer.port)
		}
	}
	for _, ip := range []string{"10.0.0.1", "172.20.0.1", "192.168.1.1", "169.254.169.254"} {
		if egressAllowed(t, pols, d.Namespace, fl, egressPeer{port: 443, proto: corev1.ProtocolTCP, ip: ip}) {
			t.Errorf("the facade may reach the private or metadata address %s", ip)
		}
	}
	if !ingressAllowed(t, r, pols, d.Namespace, fl, nil, 8080) {
		t.Error("nothing may reach the facade's port http")
	}
}

func policyTypes(p *networkingv1.NetworkPolicy, pt networkingv1.PolicyType) bool {
	return slices.Contains(p.Spec.PolicyTypes, pt)
}

// portAllowed: whether ports allow port/proto on a pod with container ports cps.
func portAllowed(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol, named func(string) int32) bool {
	for _, p := range ports {
		if ptrOr(p.Protocol, corev1.ProtocolTCP) != proto || p.Port == nil {
			continue
		}
		lo := p.Port.IntVal
		if p.Port.Type == intstr.String {
			lo = named(p.Port.StrVal)
		}
		if port == lo || (p.EndPort != nil && lo <= port && port <= *p.EndPort) {
			return true
		}
	}
	return false
}

func egressAllowed(t *testing.T, pols []*networkingv1.NetworkPolicy, ns string, from map[string]string, to egressPeer) bool {
	for _, p := range pols {
		if p.Namespace != ns || !policyTypes(p, networkingv1.PolicyTypeEgress) || !selects(t, p.Spec.PodSelector, from) {
			continue
		}
		for _, e := range p.Spec.Egress {
			if !portAllowed(e.Ports, to.port, to.proto, func(string) int32 { return 0 }) {
				continue
			}
			for _, peer := range e.To {
				switch {
				case to.ip != "" && peer.IPBlock != nil:
					if inBlock(t, to.ip, peer.IPBlock) {
						return true
					}
				case to.labels != nil && peer.PodSelector != nil && peer.IPBlock == nil:
					nsOK := (peer.NamespaceSelector == nil && to.ns == nil) || (peer.NamespaceSelector != nil && to.ns != nil && selects(t, *peer.NamespaceSelector, to.ns))
					if nsOK && selects(t, *peer.PodSelector, to.labels) {
						return true
					}
				}
			}
		}
	}
	return false
}

// ingressAllowed: whether pods labelled to may receive port from pods
// labelled from in ns (from nil: from anywhere).
func ingressAllowed(t *testing.T, r rendered, pols []*networkingv1.NetworkPolicy, ns string, to, from map[string]string, port int32) bool {
	named := func(name string) int32 {
		for _, w := range podsOf(t, r, ns, to) {
			for _, c := range w.pod.Spec.Containers {
				if n := containerPort(c, intstr.FromString(name)); n != 0 {
					return n
				}
			}
		}
		return 0
	}
	for _, p := range pols {
		if p.Namespace != ns || !policyTypes(p, networkingv1.PolicyTypeIngress) || !selects(t, p.Spec.PodSelector, to) {
			continue
		}
		for _, in := range p.Spec.Ingress {
			if !portAllowed(in.Ports, port, corev1.ProtocolTCP, named) {
				continue
			}
			if len(in.From) == 0 {
				return true
			}
			for _, peer := range in.From {
				if from != nil && peer.PodSelector != nil && peer.NamespaceSelector == nil && selects(t, *peer.PodSelector, from) {
					return true
				}
			}
		}
	}
	return false
}

// selects is a label selector's match where the empty selector selects all.
func selects(t *testing.T, sel metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(l))
}

func inBlock(t *testing.T, ip string, b *networkingv1.IPBlock) bool {
	contains := func(cidr string) bool {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatalf("ipBlock %s: %v", cidr, err)
		}
		return n.Contains(net.ParseIP(ip))
	}
	if !contains(b.CIDR) {
		return false
	}
	for _, e := range b.Except {
		if contains(e) {
			return false
		}
	}
	return true
}

// checkReferences: every ConfigMap, Secret, key and service account a pod
// names is rendered beside it (optional ones aside).
func checkReferences(t *testing.T, r rendered) {
	cms, secrets := map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, c := range all[corev1.ConfigMap](r) {
		cms[c.Namespace+"/"+c.Name] = keySet(c.Data)
	}
	for _, s := range all[corev1.Secret](r) {
		secrets[s.Namespace+"/"+s.Name] = keySet(s.Data)
	}
	need := func(what string, set map[string]map[string]bool, ns, name, key string, optional *bool) {
		if ptrOr(optional, false) {
			return
		}
		keys, ok := set[ns+"/"+name]
		if !ok {
			t.Errorf("%s %s is not rendered in namespace %q", what, name, ns)
		} else if key != "" && !keys[key] {
			t.Errorf("%s %s has no key %s", what, name, key)
		}
	}
	for _, w := range workloads(r) {
		spec := w.pod.Spec
		if sa := spec.ServiceAccountName; sa != "" && !slices.ContainsFunc(all[corev1.ServiceAccount](r), func(s *corev1.ServiceAccount) bool { return s.Name == sa && s.Namespace == w.namespace }) {
			t.Errorf("%s: service account %s is not rendered", w.name, sa)
		}
		for _, v := range spec.Volumes {
			if s := v.Secret; s != nil {
				need("Secret", secrets, w.namespace, s.SecretName, "", s.Optional)
				for _, it := range s.Items {
					need("Secret", secrets, w.namespace, s.SecretName, it.Key, s.Optional)
				}
			}
			if c := v.ConfigMap; c != nil {
				need("ConfigMap", cms, w.namespace, c.Name, "", c.Optional)
			}
		}
		for _, c := range spec.Containers {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					need("ConfigMap", cms, w.namespace, ef.ConfigMapRef.Name, "", ef.ConfigMapRef.Optional)
				}
				if ef.SecretRef != nil {
					need("Secret", secrets, w.namespace, ef.SecretRef.Name, "", ef.SecretRef.Optional)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if s := e.ValueFrom.SecretKeyRef; s != nil {
					need("Secret", secrets, w.namespace, s.Name, s.Key, s.Optional)
				}
				if cm := e.ValueFrom.ConfigMapKeyRef; cm != nil {
					need("ConfigMap", cms, w.namespace, cm.Name, cm.Key, cm.Optional)
				}
			}
		}
	}
}

func keySet[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// unsetOnPurpose are the variables the facade reads that the manifests
// leave unset, and why (base/facade.env says the same). demo: the demo
// overlay may set it.
var unsetOnPurpose = map[string]struct {
	why  string
	demo bool
}{
	"FACADE_ADDR":                 {why: "the image's entrypoint passes -addr 0.0.0.0:8080, which wins"},
	"FACADE_AUTH":                 {why: "unset is on; off is for development only"},
	"FACADE_TLS_CERT":             {why: "TLS ends at the ingress or mesh; the probes speak HTTP"},
	"FACADE_TLS_KEY":              {why: "TLS ends at the ingress or mesh; the probes speak HTTP"},
	"FACADE_INSECURE_DEMO_ISSUER": {why: "the local test issuer: demonstrations only", demo: true},
	"AUTH_DEV_KEY_FILE":           {why: "the local test issuer: demonstrations only", demo: true},
	"AUTH_DEV_APPS":               {why: "the local test issuer: demonstrations only", demo: true},
	"AUDIT_LOG":                   {why: "AUDIT_DATABASE_URL replaces the file"},
	"SANDBOX_SEED":                {why: "the embedded sandbox, which never starts: every <X>_BASE_URL is set"},
	"SANDBOX_SIZE":                {why: "the embedded sandbox, which never starts: every <X>_BASE_URL is set"},
	"SANDBOX_FAULTS":              {why: "the embedded sandbox, which never starts: every <X>_BASE_URL is set"},
}

// backendToken matches <X>_TOKEN: tokens come as files (<X>_TOKEN_FILE)
// from the Secret, never as environment values.
var backendToken = regexp.MustCompile(`^[A-Z]+_TOKEN$`)

// readAhead are set before the facade reads them: issue #19's shared
// state in Redis, written beside this. Until it lands the facade ignores
// them; once it does, the checks here hold them like any other.
var readAhead = map[string]bool{"FACADE_REDIS_URL": true, "FACADE_EXPECTED_REPLICAS": true, "FACADE_APPLICATION": true}

// facadeReads returns every environment variable the facade reads: those
// app.FromEnv asks for, and every os.Getenv/os.LookupEnv of a constant in
// the code cmd/facade is built from.
func facadeReads(t *testing.T) map[string]bool {
	t.Helper()
	read := map[string]bool{}
	if _, err := app.FromEnv(func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatalf("FromEnv with nothing set: %v", err)
	}
	const module = "github.com/carerecords/fhir-facade/"
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}}`, module+"cmd/facade").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	scanned := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[0]+"/", module) || parts[2] == "" {
			continue
		}
		for _, f := range strings.Split(parts[2], ",") {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(parts[1], f), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			scanned++
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Getenv" && sel.Sel.Name != "LookupEnv") {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "os" {
					return true
				}
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						read[s] = true
					}
				}
				return true
			})
		}
	}
	if scanned < 50 || !read["FACADE_TLS_CERT"] || !read["PDS_BASE_URL"] {
		t.Fatalf("the facade's reads were not found (%d files scanned): %v", scanned, read)
	}
	return read
}

// facadeEnv returns the facade container's environment as the kubelet sets
// it: the ConfigMap's keys (envFrom), then env, Secret references resolved.
func facadeEnv(t *testing.T, r rendered) map[string]string {
	t.Helper()
	d, c := facade(t, r)
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil || ef.Prefix != "" {
			t.Fatalf("facade: envFrom %+v: want a ConfigMap, no prefix", ef)
		}
		for _, cm := range all[corev1.ConfigMap](r) {
			if cm.Name == ef.ConfigMapRef.Name && cm.Namespace == d.Namespace {
				for k, v := range cm.Data {
					env[k] = v
				}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = string(secretValue(t, r, d.Namespace, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key))
		default:
			t.Fatalf("facade: env %s from %+v: want a value or a Secret key", e.Name, e.ValueFrom)
		}
	}
	return env
}

func secretValue(t *testing.T, r rendered, ns, name, key string) []byte {
	t.Helper()
	for _, s := range all[corev1.Secret](r) {
		if s.Namespace == ns && s.Name == name {
			if v, ok := s.Data[key]; ok {
				return v
			}
		}
	}
	t.Fatalf("Secret %s/%s has no key %s", ns, name, key)
	return nil
}

// checkEnvironment: every variable the facade reads is set by the
// manifests or left unset on purpose; every one set is read; no backend
// falls back to the embedded sandbox; and the facade accepts the whole
// configuration, its token files read from the Secret as mounted.
func checkEnvironment(t *testing.T, r rendered) {
	read := facadeReads(t)
	env := facadeEnv(t, r)
	demo := r.dir == "overlays/demo"
	for name := range read {
		_, set := env[name]
		u, unset := unsetOnPurpose[name]
		switch {
		case backendToken.MatchString(name):
			if set {
				t.Errorf("%s is set: tokens are files from the Secret (%s_FILE), never environment values", name, name)
			}
		case unset:
			if set && !(demo && u.demo) {
				t.Errorf("%s is set, but is meant to stay unset: %s", name, u.why)
			}
		case !set:
			t.Errorf("%s is read by the facade but neither set by the manifests (base/facade.env, the Deployment's env) nor in unsetOnPurpose", name)
		}
	}
	for name := range env {
		// The OpenTelemetry SDK reads the standard OTEL_* variables itself.
		if !read[name] && !readAhead[name] && !strings.HasPrefix(name, "OTEL_") {
			t.Errorf("%s is set but the facade never reads it (a typo?)", name)
		}
	}
	_, c := facade(t, r)
	tokenDir := map[string]*corev1.SecretVolumeSource{}
	for _, m := range c.VolumeMounts {
		for _, v := range facadeVolumes(t, r) {
			if v.Name == m.Name && v.Secret != nil {
				tokenDir[m.MountPath] = v.Secret
			}
		}
	}
	dir := t.TempDir()
	getenv := func(k string) string { return env[k] }
	files := map[string]string{}
	for name, v := range env {
		switch {
		case strings.HasSuffix(name, "_BASE_URL"):
			u, err := url.Parse(v)
			if v == "" || err != nil || u.Host == "" {
				t.Errorf("%s=%q: every backend needs its base URL (empty starts the embedded sandbox, in each replica)", name, v)
			}
			if !demo && (u.Scheme != "https" || !(u.Host == "api.service.nhs.uk" || strings.HasSuffix(u.Host, ".invalid"))) {
				t.Errorf("%s=%q: the base names the NHS API platform over https, or a placeholder under .invalid", name, v)
			}
		case strings.HasSuffix(name, "_TOKEN_FILE"):
			src := tokenDir[filepath.Dir(v)]
			if src == nil {
				t.Errorf("%s=%s is not in a Secret volume's mount", name, v)
				continue
			}
			i := slices.IndexFunc(src.Items, func(it corev1.KeyToPath) bool { return it.Path == filepath.Base(v) })
			if i < 0 {
				t.Errorf("%s=%s: the Secret volume mounts no such file", name, v)
				continue
			}
			// FromEnv reads the token as the container would.
			f := filepath.Join(dir, filepath.Base(v))
			if err := os.WriteFile(f, secretValue(t, r, c2ns(t, r), src.SecretName, src.Items[i].Key), 0o600); err != nil {
				t.Fatal(err)
			}
			files[name] = f
		}
	}
	if wal := env["AUDIT_WAL"]; !writableMount(t, r, filepath.Dir(wal)) {
		t.Errorf("AUDIT_WAL=%s: its directory must be a writable volume (the root filesystem is read-only)", wal)
	}
	if _, err := app.FromEnv(func(k string) string {
		if f, ok := files[k]; ok {
			return f
		}
		return getenv(k)
	}); err != nil {
		t.Errorf("the facade refuses the configuration: %v", err)
	}
}

func c2ns(t *testing.T, r rendered) string {
	d, _ := facade(t, r)
	return d.Namespace
}

func facadeVolumes(t *testing.T, r rendered) []corev1.Volume {
	d, _ := facade(t, r)
	return d.Spec.Template.Spec.Volumes
}

func writableMount(t *testing.T, r rendered, dir string) bool {
	_, c := facade(t, r)
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir && !m.ReadOnly {
			for _, v := range facadeVolumes(t, r) {
				if v.Name == m.Name && (v.EmptyDir != nil || v.PersistentVolumeClaim != nil) {
					return true
				}
			}
		}
	}
	return false
}

// TestBaseFailsClosed: the base's placeholders keep a real deployment from
// serving until an overlay replaces them: the audit database URL stops the
// facade at start, the token issuer and public base never resolve.
func TestBaseFailsClosed(t *testing.T) {
	for _, dir := range []string{".", "base"} {
		r := render(t, dir)
		env := facadeEnv(t, r)
		_, err := pgaudit.Open(context.Background(), pgaudit.Options{URL: env["AUDIT_DATABASE_URL"], WAL: filepath.Join(t.TempDir(), "audit.wal"), Logger: quiet()})
		if err == nil || !strings.Contains(err.Error(), "not a valid PostgreSQL connection string") {
			t.Errorf("%s: AUDIT_DATABASE_URL placeholder: pgaudit.Open gives %v, want the facade to refuse to start", dir, err)
		}
		if _, err := url.Parse(env["FACADE_REDIS_URL"]); err == nil && strings.HasPrefix(env["FACADE_REDIS_URL"], "redis") {
			t.Errorf("%s: FACADE_REDIS_URL placeholder %q is a usable URL", dir, env["FACADE_REDIS_URL"])
		}
		for _, k := range []string{"FACADE_BASE_URL", "AUTH_ISSUER", "AUTH_JWKS_URL"} {
			if u, err := url.Parse(env[k]); err != nil || !strings.HasSuffix(u.Hostname(), ".invalid") {
				t.Errorf("%s: %s=%q: want a placeholder host under .invalid", dir, k, env[k])
			}
		}
		d, _ := facade(t, r)
		for _, s := range all[corev1.Secret](r) {
			for k, v := range s.Data {
				if s.Namespace == d.Namespace && !strings.HasPrefix(string(v), "REPLACE-ME") {
					t.Errorf("%s: Secret %s key %s is not a REPLACE-ME placeholder", dir, s.Name, k)
				}
			}
		}
	}
}

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// TestDemoConnects: in the demo every address the facade is given (the
// simulators, Redis, PostgreSQL) is a Service of the namespace, on a port
// its pods serve, and the NetworkPolicies let the facade reach it.
func TestDemoConnects(t *testing.T) {
	r := render(t, "overlays/demo")
	d, _ := facade(t, r)
	env := facadeEnv(t, r)
	if ns := d.Namespace; ns == "" || !slices.ContainsFunc(all[corev1.Namespace](r), func(n *corev1.Namespace) bool { return n.Name == ns }) {
		t.Fatalf("the demo's namespace %q is not rendered", ns)
	}
	if env["FACADE_INSECURE_DEMO_ISSUER"] != "true" || env["AUTH_ISSUER"] != "" {
		t.Error("the demo runs the local test issuer, declared insecure")
	}
	if _, err := pgxpool.ParseConfig(env["AUDIT_DATABASE_URL"]); err != nil {
		t.Errorf("AUDIT_DATABASE_URL: %v", err)
	}
	pols := all[networkingv1.NetworkPolicy](r)
	targets := 0
	for name, v := range env {
		if !(strings.HasSuffix(name, "_BASE_URL") || name == "NRL_SSP_URL" || name == "AUDIT_DATABASE_URL" || name == "FACADE_REDIS_URL") || name == "FACADE_BASE_URL" {
			continue
		}
		targets++
		u, err := url.Parse(v)
		if err != nil || u.Port() == "" {
			t.Errorf("%s=%q: want host:port", name, v)
			continue
		}
		port, _ := strconv.Atoi(u.Port())
		var svc *corev1.Service
		for _, s := range all[corev1.Service](r) {
			if s.Name == u.Hostname() && s.Namespace == d.Namespace {
				svc = s
			}
		}
		if svc == nil {
			t.Errorf("%s=%s: no Service %s in the namespace", name, v, u.Hostname())
			continue
		}
		i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == int32(port) })
		if i < 0 {
			t.Errorf("%s=%s: Service %s has no port %d", name, v, svc.Name, port)
			continue
		}
		ws := podsOf(t, r, svc.Namespace, svc.Spec.Selector)
		if len(ws) != 1 {
			t.Errorf("%s: Service %s selects %d workloads", name, svc.Name, len(ws))
			continue
		}
		var podPort int32
		for _, c := range ws[0].pod.Spec.Containers {
			if p := containerPort(c, svc.Spec.Ports[i].TargetPort); p != 0 {
				podPort = p
			}
		}
		peer := egressPeer{name: svc.Name, port: podPort, proto: corev1.ProtocolTCP, labels: ws[0].pod.Labels}
		if !egressAllowed(t, pols, d.Namespace, d.Spec.Template.Labels, peer) {
			t.Errorf("%s: the facade may not send to %s:%d", name, svc.Name, podPort)
		}
		if !ingressAllowed(t, r, pols, d.Namespace, ws[0].pod.Labels, d.Spec.Template.Labels, podPort) {
			t.Errorf("%s: %s does not take the facade's traffic on %d", name, svc.Name, podPort)
		}
	}
	if targets < 12 {
		t.Errorf("%d addresses checked, want the 9 backends, the NRL proxy, Redis and PostgreSQL", targets)
	}
}

// TestKubectlRendersTheSame: where kubectl is installed, `kubectl
// kustomize` renders exactly what the tests above checked.
func TestKubectlRendersTheSame(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed; the manifests were rendered with kustomize's Go API")
	}
	for _, dir := range kustomizations {
		out, err := exec.Command("kubectl", "kustomize", dir).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		want := render(t, dir).json
		got := map[string][]byte{}
		for _, doc := range strings.Split("\n"+string(out), "\n---\n") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			j, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Kind     string
				Metadata struct{ Namespace, Name string }
			}
			if err := json.Unmarshal(j, &m); err != nil {
				t.Fatal(err)
			}
			got[m.Kind+"/"+m.Metadata.Namespace+"/"+m.Metadata.Name] = j
		}
		if len(got) != len(want) {
			t.Errorf("%s: kubectl renders %d objects, kustomize's API %d", dir, len(got), len(want))
		}
		for id, j := range want {
			if !jsonEqual(t, j, got[id]) {
				t.Errorf("%s: %s differs between kubectl and kustomize's API", dir, id)
			}
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
