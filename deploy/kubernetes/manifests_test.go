package kubernetes

import (
	"net"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The builds checked: the base and every overlay.
var builds = []string{"deploy/kubernetes/base", "deploy/kubernetes/overlays/production"}

// The orders workloads and the command each runs.
var ordersWorkloads = map[string]string{"orders-api": "api", "orders-worker": "worker", "orders-migrate": "migrate"}

func TestManifests(t *testing.T) {
	facts := readServiceFacts(t)
	for _, dir := range builds {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs := decodeAll(t, kustomizeBuild(t, dir))
			t.Run("selectors", func(t *testing.T) { checkSelectors(t, objs) })
			t.Run("services", func(t *testing.T) { checkServices(t, objs) })
			t.Run("orders", func(t *testing.T) { checkOrders(t, objs, facts) })
			t.Run("secrets", func(t *testing.T) { checkSecretFiles(t, objs) })
			t.Run("autoscaling", func(t *testing.T) { checkAutoscaling(t, objs) })
			t.Run("networkpolicy", func(t *testing.T) { checkAdminOnlyFromPrometheus(t, objs, facts) })
			t.Run("servicemonitor", func(t *testing.T) { checkServiceMonitor(t, objs, facts) })
			t.Run("nats", func(t *testing.T) { checkNATS(t, objs) })
		})
	}
}

func selects(t testing.TB, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(set))
}

// matching lists the workloads whose pods sel selects.
func matching(t testing.TB, objs objects, sel *metav1.LabelSelector) []workload {
	var out []workload
	for _, w := range objs.workloads() {
		if selects(t, sel, w.pod.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// checkSelectors: every workload selects its own pods, and every PodDisruptionBudget covers one
// workload of more than one replica (a budget over a single pod would block every drain).
func checkSelectors(t *testing.T, objs objects) {
	for _, w := range objs.workloads() {
		if w.kind == "Job" && w.selector == nil {
			continue // the Job controller makes its own selector
		}
		if !selects(t, w.selector, w.pod.Labels) {
			t.Errorf("%s: selector %v does not match its pod labels %v", w, w.selector, w.pod.Labels)
		}
	}
	covered := map[string]bool{}
	for _, p := range objs.pdbs {
		ws := matching(t, objs, p.Spec.Selector)
		if len(ws) != 1 {
			t.Errorf("PodDisruptionBudget %s selects %v: want exactly one workload", p.Name, ws)
			continue
		}
		covered[ws[0].name] = true
		if ws[0].replicas < 2 {
			t.Errorf("PodDisruptionBudget %s covers %s of %d replica: a drain could never evict it", p.Name, ws[0], ws[0].replicas)
		}
	}
	for _, name := range []string{"orders-api", "orders-worker", "nats"} {
		if !covered[name] {
			t.Errorf("no PodDisruptionBudget covers %s", name)
		}
	}
}

// checkServices: every Service selects some pods and each target port is a port of theirs.
func checkServices(t *testing.T, objs objects) {
	for _, s := range objs.services {
		ws := matching(t, objs, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if len(ws) == 0 {
			t.Errorf("Service %s selects no pods (%v)", s.Name, s.Spec.Selector)
		}
		for _, w := range ws {
			for _, p := range s.Spec.Ports {
				if containerPort(w.pod, p.TargetPort) == nil {
					t.Errorf("Service %s port %s: target %s is no container port of %s", s.Name, p.Name, p.TargetPort.String(), w)
				}
			}
		}
	}
}

// containerPort resolves a named or numbered port in a pod.
func containerPort(pod *corev1.PodTemplateSpec, port intstr.IntOrString) *corev1.ContainerPort {
	for _, c := range pod.Spec.Containers {
		for i, p := range c.Ports {
			if port.Type == intstr.String && p.Name == port.StrVal || port.Type == intstr.Int && p.ContainerPort == port.IntVal {
				return &c.Ports[i]
			}
		}
	}
	return nil
}

// checkOrders: each orders workload runs its command, reads only variables the code reads,
// listens where the code listens, and probes paths the admin port serves.
func checkOrders(t *testing.T, objs objects, facts serviceFacts) {
	natsSets := objs.statefulSets
	for _, w := range objs.workloads() {
		cmd, ok := ordersWorkloads[w.name]
		if !ok {
			continue
		}
		if len(w.pod.Spec.Containers) != 1 {
			t.Errorf("%s: want one container, got %d", w, len(w.pod.Spec.Containers))
			continue
		}
		c := w.pod.Spec.Containers[0]
		if len(c.Args) == 0 || c.Args[0] != cmd {
			t.Errorf("%s: args %q, want %q first", w, c.Args, cmd)
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if !facts.reads(e.Name) {
				t.Errorf("%s: env %s is not read by cmd/orders", w, e.Name)
			}
		}
		checkResources(t, w.String(), c)
		if cmd == "migrate" {
			continue
		}
		if len(natsSets) == 1 && env["NATS_REPLICAS"] != strconv.Itoa(int(deref(natsSets[0].Spec.Replicas, 1))) {
			t.Errorf("%s: NATS_REPLICAS %q, want the NATS StatefulSet's %d replicas", w, env["NATS_REPLICAS"], deref(natsSets[0].Spec.Replicas, 1))
		}
		checkNATSURL(t, w.String(), env["NATS_URL"], objs)
		checkPorts(t, w, c, env, facts)
	}
}

func checkResources(t *testing.T, who string, c corev1.Container) {
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim {
			t.Errorf("%s: container %s needs a %s request and limit", who, c.Name, r)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s above its limit %s", who, r, req.String(), lim.String())
		}
	}
}

func checkNATSURL(t *testing.T, who, url string, objs objects) {
	for _, u := range strings.Split(url, ",") {
		host, port, err := net.SplitHostPort(strings.TrimPrefix(u, "nats://"))
		svc := objs.service(host)
		if err != nil || svc == nil {
			t.Errorf("%s: NATS_URL %q: %s is no Service of this build", who, url, host)
			continue
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == port }) {
			t.Errorf("%s: NATS_URL %q: Service %s has no port %s", who, url, host, port)
		}
	}
}

// checkPorts: the admin port is the code's ADMIN_ADDR (or the one the env sets), and so is the
// API's; liveness and readiness probe the admin paths that answer 200.
func checkPorts(t *testing.T, w workload, c corev1.Container, env map[string]string, facts serviceFacts) {
	want := map[string]string{"admin": "ADMIN_ADDR"}
	if ordersWorkloads[w.name] == "api" {
		want["http"] = "HTTP_ADDR"
	}
	for name, variable := range want {
		port := facts.defaultPort(t, variable)
		if v, ok := env[variable]; ok {
			_, p, _ := net.SplitHostPort(v)
			n, _ := strconv.Atoi(p)
			port = int32(n)
		}
		cp := containerPort(w.pod, intstr.FromString(name))
		if cp == nil || cp.ContainerPort != port {
			t.Errorf("%s: container port %q %v, want %d (%s)", w, name, cp, port, variable)
		}
	}
	admin := containerPort(w.pod, intstr.FromString("admin"))
	for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			if kind != "startup" {
				t.Errorf("%s: no HTTP %s probe", w, kind)
			}
			continue
		}
		if got := containerPort(w.pod, p.HTTPGet.Port); got == nil || admin == nil || got.ContainerPort != admin.ContainerPort {
			t.Errorf("%s: %s probe on port %s, want the admin port", w, kind, p.HTTPGet.Port.String())
		}
		if code := facts.admin(p.HTTPGet.Path); code != 200 {
			t.Errorf("%s: %s probe path %s answers %d on the admin port, want 200", w, kind, p.HTTPGet.Path, code)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("%s: readiness probes %s, want /readyz (the one that checks JetStream and PostgreSQL)", w, c.ReadinessProbe.HTTPGet.Path)
	}
}

// checkSecretFiles: every NAME_FILE variable names a file of a Secret volume mounted in the
// same container, and a key that volume projects.
func checkSecretFiles(t *testing.T, objs objects) {
	for _, w := range objs.workloads() {
		vols := map[string]*corev1.Volume{}
		for i, v := range w.pod.Spec.Volumes {
			vols[v.Name] = &w.pod.Spec.Volumes[i]
		}
		for _, c := range w.pod.Spec.Containers {
			for _, e := range c.Env {
				if strings.HasSuffix(e.Name, "_FILE") {
					checkSecretFile(t, w, c, vols, e)
				}
			}
		}
	}
}

func checkSecretFile(t *testing.T, w workload, c corev1.Container, vols map[string]*corev1.Volume, e corev1.EnvVar) {
	dir, file := path.Split(e.Value)
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != path.Clean(dir) {
			continue
		}
		v := vols[m.Name]
		if v == nil || v.Secret == nil {
			t.Errorf("%s: %s=%s is under %s, which is no Secret volume", w, e.Name, e.Value, m.MountPath)
			return
		}
		if len(v.Secret.Items) > 0 && !slices.ContainsFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == file }) {
			t.Errorf("%s: %s=%s: Secret %s projects no %s", w, e.Name, e.Value, v.Secret.SecretName, file)
		}
		if v.Secret.Optional != nil && *v.Secret.Optional {
			t.Errorf("%s: %s: Secret volume %s is optional: the process would start without its secret", w, e.Name, v.Name)
		}
		return
	}
	t.Errorf("%s: %s=%s: no volume is mounted at %s", w, e.Name, e.Value, dir)
}
