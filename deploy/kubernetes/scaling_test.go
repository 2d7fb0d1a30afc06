package kubernetes

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shopflow/orders/events"
)

// checkAutoscaling: the HPA scales the API, KEDA the workers, never both the same Deployment;
// the KEDA triggers cover exactly the application's durable consumers and ask NATS where the
// consumer leaders can be found.
func checkAutoscaling(t *testing.T, objs objects) {
	targets := map[string]string{}
	for _, h := range objs.hpas {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || objs.deployment(h.Spec.ScaleTargetRef.Name) == nil {
			t.Errorf("HPA %s: target %v is no Deployment of this build", h.Name, h.Spec.ScaleTargetRef)
		}
		if deref(h.Spec.MinReplicas, 1) < 2 {
			t.Errorf("HPA %s: minReplicas below 2 leaves one pod's loss as an outage", h.Name)
		}
		targets[h.Spec.ScaleTargetRef.Name] = "HPA " + h.Name
	}
	if _, ok := targets["orders-api"]; !ok {
		t.Error("no HPA scales orders-api")
	}
	if len(objs.scaledObjs) != 1 {
		t.Fatalf("want one ScaledObject (the workers), got %d", len(objs.scaledObjs))
	}
	so := objs.scaledObjs[0]
	if so.Spec.ScaleTargetRef.Name != "orders-worker" || objs.deployment("orders-worker") == nil {
		t.Errorf("ScaledObject %s: target %q, want the orders-worker Deployment", so.Name, so.Spec.ScaleTargetRef.Name)
	}
	if other, ok := targets[so.Spec.ScaleTargetRef.Name]; ok {
		t.Errorf("ScaledObject %s and %s both scale %s", so.Name, other, so.Spec.ScaleTargetRef.Name)
	}
	if deref(so.Spec.MinReplicaCount, 0) < 2 {
		t.Errorf("ScaledObject %s: minReplicaCount below 2", so.Name)
	}
	var got, want []string
	for _, c := range events.Consumers() {
		want = append(want, c.Stream+"/"+c.Durable)
	}
	for _, tr := range so.Spec.Triggers {
		got = append(got, tr.Metadata["stream"]+"/"+tr.Metadata["consumer"])
		checkJetStreamTrigger(t, objs, so, tr.Type, tr.Metadata)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ScaledObject %s triggers on %v, want the application's consumers %v", so.Name, got, want)
	}
}

var jetStreamTriggerKeys = []string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"}

func checkJetStreamTrigger(t *testing.T, objs objects, so *scaledObject, typ string, md map[string]string) {
	if typ != "nats-jetstream" {
		t.Errorf("ScaledObject %s: trigger type %q, want nats-jetstream", so.Name, typ)
	}
	for k := range md {
		if !slices.Contains(jetStreamTriggerKeys, k) {
			t.Errorf("ScaledObject %s: unknown nats-jetstream metadata %q", so.Name, k)
		}
	}
	if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
		t.Errorf("ScaledObject %s: lagThreshold %q, want a positive integer", so.Name, md["lagThreshold"])
	}
	if md["account"] != "$G" {
		t.Errorf("ScaledObject %s: account %q, want $G (the server has no accounts)", so.Name, md["account"])
	}
	// In a cluster KEDA asks <leader server_name>.<endpoint>: the endpoint must be the headless
	// Service, whose per-pod names are the server names.
	host, port, err := net.SplitHostPort(md["natsServerMonitoringEndpoint"])
	labels := strings.Split(host, ".")
	svc := objs.service(labels[0])
	if err != nil || svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("ScaledObject %s: endpoint %q is not the NATS headless Service", so.Name, md["natsServerMonitoringEndpoint"])
		return
	}
	if so.Namespace != "" && (len(labels) < 2 || labels[1] != so.Namespace) {
		t.Errorf("ScaledObject %s: endpoint %q is not in namespace %s", so.Name, host, so.Namespace)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "monitor" && strconv.Itoa(int(p.Port)) == port }) {
		t.Errorf("ScaledObject %s: endpoint port %s is not the monitor port of %s", so.Name, port, svc.Name)
	}
}

// checkAdminOnlyFromPrometheus: on the orders pods, every ingress rule that opens the admin
// port admits Prometheus pods only, and at least one does; the API port is open.
func checkAdminOnlyFromPrometheus(t *testing.T, objs objects, facts serviceFacts) {
	adminPort := facts.defaultPort(t, "ADMIN_ADDR")
	for _, w := range objs.workloads() {
		if w.kind == "Job" || w.pod.Labels["app.kubernetes.io/name"] != "orders" {
			continue
		}
		prometheusAllowed := false
		isolated := false
		for _, np := range objs.netpols {
			if !selects(t, &np.Spec.PodSelector, w.pod.Labels) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
				continue
			}
			isolated = true
			for _, rule := range np.Spec.Ingress {
				if !opens(w, rule.Ports, adminPort) {
					continue
				}
				if len(rule.From) == 0 {
					t.Errorf("NetworkPolicy %s opens the admin port of %s to everyone", np.Name, w)
				}
				for _, peer := range rule.From {
					if !isPrometheus(peer) {
						t.Errorf("NetworkPolicy %s opens the admin port of %s to %+v, not only to Prometheus", np.Name, w, peer)
					}
				}
				prometheusAllowed = prometheusAllowed || len(rule.From) > 0
			}
		}
		if !isolated || !prometheusAllowed {
			t.Errorf("%s: isolated by a NetworkPolicy %v, admin port open to Prometheus %v: want both", w, isolated, prometheusAllowed)
		}
	}
}

func opens(w workload, ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		if cp := containerPort(w.pod, *p.Port); cp != nil && cp.ContainerPort == port {
			return true
		}
	}
	return false
}

func isPrometheus(peer networkingv1.NetworkPolicyPeer) bool {
	return peer.IPBlock == nil && peer.PodSelector != nil && peer.PodSelector.MatchLabels["app.kubernetes.io/name"] == "prometheus"
}

// checkServiceMonitor: it selects the Services of the api and the workers, through a port that
// leads to the admin port, on a path the admin port serves.
func checkServiceMonitor(t *testing.T, objs objects, facts serviceFacts) {
	if len(objs.monitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(objs.monitors))
	}
	sm := objs.monitors[0]
	scraped := map[string]bool{}
	for _, s := range objs.services {
		if !selects(t, &sm.Spec.Selector, s.Labels) {
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			sp := servicePort(s, ep.Port)
			if sp == nil {
				t.Errorf("ServiceMonitor %s: Service %s has no port %q", sm.Name, s.Name, ep.Port)
				continue
			}
			if code := facts.admin(ep.Path); code != 200 {
				t.Errorf("ServiceMonitor %s: path %q answers %d on the admin port", sm.Name, ep.Path, code)
			}
			for _, w := range matching(t, objs, &metav1.LabelSelector{MatchLabels: s.Spec.Selector}) {
				if cp := containerPort(w.pod, sp.TargetPort); cp == nil || cp.ContainerPort != facts.defaultPort(t, "ADMIN_ADDR") {
					t.Errorf("ServiceMonitor %s scrapes %s through %s:%s, not the admin port", sm.Name, w, s.Name, ep.Port)
				}
				scraped[w.name] = true
			}
		}
	}
	for _, name := range []string{"orders-api", "orders-worker"} {
		if !scraped[name] {
			t.Errorf("ServiceMonitor %s does not scrape %s", sm.Name, name)
		}
	}
}

func servicePort(s *corev1.Service, name string) *corev1.ServicePort {
	for i, p := range s.Spec.Ports {
		if p.Name == name {
			return &s.Spec.Ports[i]
		}
	}
	return nil
}
