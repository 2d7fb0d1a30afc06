package kubernetes

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) these manifests use. Its
// CRD is not in k8s.io/api; a field not declared here fails the strict decode, so a misspelt
// field cannot pass as an unknown one.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// serviceMonitor is the part of the Prometheus operator's ServiceMonitor
// (monitoring.coreos.com/v1) these manifests use, decoded as strictly as scaledObject.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// objects is one kustomize build, decoded into the API types.
type objects struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	jobs         []*batchv1.Job
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	netpols      []*networkingv1.NetworkPolicy
	scaledObjs   []*scaledObject
	monitors     []*serviceMonitor
	accounts     []*corev1.ServiceAccount
}

// decodeAll splits a multi-document YAML stream and decodes each document strictly into the
// type of its apiVersion and kind: an unknown field, a duplicate field, a wrong type or an
// unknown kind fails.
func decodeAll(t testing.TB, stream []byte) objects {
	t.Helper()
	var objs objects
	for i, doc := range splitDocuments(stream) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		target, add := objs.slot(head.APIVersion + " " + head.Kind)
		if target == nil {
			t.Errorf("document %d: %s %s is not a kind these tests know: add it to objects", i, head.APIVersion, head.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			t.Errorf("document %d (%s): %v", i, head.Kind, err)
			continue
		}
		add()
	}
	return objs
}

// slot returns a new object of the type for gvk and a function that keeps it.
func (o *objects) slot(gvk string) (any, func()) {
	switch gvk {
	case "apps/v1 Deployment":
		return newSlot(&o.deployments)
	case "apps/v1 StatefulSet":
		return newSlot(&o.statefulSets)
	case "batch/v1 Job":
		return newSlot(&o.jobs)
	case "v1 Service":
		return newSlot(&o.services)
	case "v1 ConfigMap":
		return newSlot(&o.configMaps)
	case "v1 ServiceAccount":
		return newSlot(&o.accounts)
	case "policy/v1 PodDisruptionBudget":
		return newSlot(&o.pdbs)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return newSlot(&o.hpas)
	case "networking.k8s.io/v1 NetworkPolicy":
		return newSlot(&o.netpols)
	case "keda.sh/v1alpha1 ScaledObject":
		return newSlot(&o.scaledObjs)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return newSlot(&o.monitors)
	}
	return nil, nil
}

func newSlot[T any](list *[]*T) (any, func()) {
	v := new(T)
	return v, func() { *list = append(*list, v) }
}

// splitDocuments splits on `---` lines, dropping empty documents.
func splitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), stream...), []byte("\n---")) {
		if i := bytes.IndexByte(d, '\n'); i >= 0 && strings.TrimSpace(string(d[:i])) == "" {
			d = d[i+1:]
		}
		if strings.TrimSpace(string(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

// workload is a pod template with the object that owns it, for selector checks.
type workload struct {
	name     string
	kind     string
	replicas int32
	selector *metav1.LabelSelector
	pod      *corev1.PodTemplateSpec
}

func (o objects) workloads() []workload {
	var out []workload
	for _, d := range o.deployments {
		out = append(out, workload{d.Name, "Deployment", deref(d.Spec.Replicas, 1), d.Spec.Selector, &d.Spec.Template})
	}
	for _, s := range o.statefulSets {
		out = append(out, workload{s.Name, "StatefulSet", deref(s.Spec.Replicas, 1), s.Spec.Selector, &s.Spec.Template})
	}
	for _, j := range o.jobs {
		out = append(out, workload{j.Name, "Job", 1, j.Spec.Selector, &j.Spec.Template})
	}
	return out
}

func (o objects) deployment(name string) *appsv1.Deployment {
	for _, d := range o.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (o objects) service(name string) *corev1.Service {
	for _, s := range o.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func (w workload) String() string { return fmt.Sprintf("%s/%s", w.kind, w.name) }
