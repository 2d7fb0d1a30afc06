package kubernetes

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var (
	confRoute    = regexp.MustCompile(`nats://([^\s:]+):(\d+)`)
	confStoreDir = regexp.MustCompile(`(?m)^\s*store_dir:\s*(\S+)`)
	confSync     = regexp.MustCompile(`(?m)^\s*sync_interval:\s*always\s*$`)
	confVar      = regexp.MustCompile(`\$([A-Z_][A-Z0-9_]*)`)
)

// checkNATS: one StatefulSet of 3 servers behind its headless Service, each with its volume
// claim under the JetStream store, a config that syncs every write, routes to every pod by
// its stable name, and that the real nats-server accepts for each pod.
func checkNATS(t *testing.T, objs objects) {
	if len(objs.statefulSets) != 1 {
		t.Fatalf("want one StatefulSet (NATS), got %d", len(objs.statefulSets))
	}
	sts := objs.statefulSets[0]
	replicas := deref(sts.Spec.Replicas, 1)
	if replicas != 3 {
		t.Errorf("StatefulSet %s: %d replicas, want 3 (streams of 3 replicas)", sts.Name, replicas)
	}
	headless := objs.service(sts.Spec.ServiceName)
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("StatefulSet %s: serviceName %q must be a headless Service publishing not-ready pods", sts.Name, sts.Spec.ServiceName)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	conf := natsConfig(t, objs, sts, c)
	if !confSync.MatchString(conf) {
		t.Errorf("nats.conf: no `sync_interval: always`")
	}
	checkStoreOnClaim(t, sts, c, conf)
	checkRoutes(t, sts, conf)
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range replicas {
		natsCheck(t, file, podEnv(t, c, fmt.Sprintf("%s-%d", sts.Name, i)))
	}
	if tag := c.Image[strings.LastIndex(c.Image, ":")+1:]; !strings.HasPrefix("v"+tag, makeVar(t, "NATS_SERVER_VERSION")) {
		t.Errorf("StatefulSet %s runs %s: want the version the config is checked with, %s", sts.Name, c.Image, makeVar(t, "NATS_SERVER_VERSION"))
	}
}

// natsConfig is the nats.conf the container reads: the file behind its --config flag, from
// the ConfigMap volume mounted there.
func natsConfig(t *testing.T, objs objects, sts *appsv1.StatefulSet, c corev1.Container) string {
	t.Helper()
	var confPath string
	for i, a := range c.Args {
		if (a == "--config" || a == "-c") && i+1 < len(c.Args) {
			confPath = c.Args[i+1]
		}
	}
	for _, m := range c.VolumeMounts {
		if path.Dir(confPath) != path.Clean(m.MountPath) {
			continue
		}
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, cm := range objs.configMaps {
				if cm.Name == v.ConfigMap.Name {
					if conf, ok := cm.Data[path.Base(confPath)]; ok {
						return conf
					}
				}
			}
		}
	}
	t.Fatalf("StatefulSet %s: config %q is no key of a ConfigMap mounted in the container", sts.Name, confPath)
	return ""
}

func checkStoreOnClaim(t *testing.T, sts *appsv1.StatefulSet, c corev1.Container, conf string) {
	m := confStoreDir.FindStringSubmatch(conf)
	if m == nil {
		t.Error("nats.conf: no jetstream store_dir")
		return
	}
	for _, vm := range c.VolumeMounts {
		if strings.HasPrefix(path.Clean(m[1])+"/", path.Clean(vm.MountPath)+"/") {
			for _, claim := range sts.Spec.VolumeClaimTemplates {
				if claim.Name == vm.Name {
					return
				}
			}
		}
	}
	t.Errorf("nats.conf: store_dir %s is on no volume claim of StatefulSet %s", m[1], sts.Name)
}

func checkRoutes(t *testing.T, sts *appsv1.StatefulSet, conf string) {
	var want, got []string
	for i := range deref(sts.Spec.Replicas, 1) {
		port := containerPort(&sts.Spec.Template, intstr.FromString("cluster"))
		if port == nil {
			t.Fatalf("StatefulSet %s: no container port named cluster", sts.Name)
		}
		want = append(want, fmt.Sprintf("%s-%d.%s:%d", sts.Name, i, sts.Spec.ServiceName, port.ContainerPort))
	}
	for _, m := range confRoute.FindAllStringSubmatch(conf, -1) {
		got = append(got, m[1]+":"+m[2])
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("nats.conf routes %v, want every pod through the headless Service %v", got, want)
	}
}

// podEnv is the environment the container would have in pod: literal values, and the pod's
// name where a variable takes it from the downward API.
func podEnv(t *testing.T, c corev1.Container, pod string) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = pod
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		default:
			t.Errorf("container %s: env %s comes from %v, which this test cannot resolve", c.Name, e.Name, e.ValueFrom)
		}
	}
	return env
}

// compose is the part of docker-compose.yml the cluster checks read.
type compose struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Environment map[string]string `json:"environment"`
		Volumes     []string          `json:"volumes"`
		Command     []string          `json:"command"`
	} `json:"services"`
}

// TestComposeCluster: docker-compose.yml runs three NATS servers, each on a config the real
// server accepts with that service's environment, routing to all three, syncing every write;
// the orders services ask for 3 replicas and list every server.
func TestComposeCluster(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var servers []string
	for name, s := range c.Services {
		if !strings.HasPrefix(s.Image, "nats:") {
			continue
		}
		servers = append(servers, name)
		conf := composeNATSConfig(t, root, name, s.Volumes)
		natsCheck(t, conf, s.Environment)
		text, _ := os.ReadFile(conf)
		if !confSync.Match(text) {
			t.Errorf("%s: %s has no `sync_interval: always`", name, conf)
		}
		for _, v := range confVar.FindAllStringSubmatch(string(text), -1) {
			if v[1] == "SERVER_NAME" && s.Environment[v[1]] != name {
				t.Errorf("%s: SERVER_NAME %q, want the service name (routes and JetStream peers know it by that)", name, s.Environment[v[1]])
			}
		}
	}
	if len(servers) != 3 {
		t.Errorf("docker-compose.yml runs NATS servers %v, want 3", servers)
	}
	for _, name := range []string{"api", "worker", "migrate"} {
		env := c.Services[name].Environment
		if name != "migrate" && env["NATS_REPLICAS"] != "3" {
			t.Errorf("%s: NATS_REPLICAS %q, want 3", name, env["NATS_REPLICAS"])
		}
		for _, s := range servers {
			if name != "migrate" && !strings.Contains(env["NATS_URL"], "nats://"+s+":") {
				t.Errorf("%s: NATS_URL %q does not list %s", name, env["NATS_URL"], s)
			}
		}
	}
}

// composeNATSConfig is the host file mounted at the config path the server is started with.
func composeNATSConfig(t *testing.T, root, service string, volumes []string) string {
	t.Helper()
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasSuffix(parts[1], ".conf") && strings.HasPrefix(parts[0], ".") {
			return filepath.Join(root, parts[0])
		}
	}
	t.Fatalf("%s: no .conf file mounted from the repository", service)
	return ""
}

// TestSingleServerConfig: deploy/nats.conf, the one-server example the README points to.
func TestSingleServerConfig(t *testing.T) {
	natsCheck(t, filepath.Join(repoRoot(t), "deploy", "nats.conf"), nil)
}
