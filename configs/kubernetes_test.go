package configs

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The parts of Kubernetes objects the test reads.
type (
	k8sMeta struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	k8sPort struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Port          int    `yaml:"port"`
		TargetPort    string `yaml:"targetPort"` // a number or a container port's name
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	k8sContainer struct {
		Name           string    `yaml:"name"`
		Args           []string  `yaml:"args"`
		Ports          []k8sPort `yaml:"ports"`
		LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
		ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
		VolumeMounts   []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	k8sDeployment struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata k8sMeta `yaml:"metadata"`
				Spec     struct {
					Containers []k8sContainer `yaml:"containers"`
					Volumes    []struct {
						Name      string `yaml:"name"`
						ConfigMap *struct {
							Name string `yaml:"name"`
						} `yaml:"configMap"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	k8sService struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []k8sPort         `yaml:"ports"`
		} `yaml:"spec"`
	}
	k8sConfigMap struct {
		Metadata k8sMeta           `yaml:"metadata"`
		Data     map[string]string `yaml:"data"`
	}
)

// TestKubernetesExample checks that the Kubernetes example agrees with the shadowproxy config its
// ConfigMap holds: the config loads, the sidecar runs it from where the ConfigMap is mounted, and the
// container ports, probes, Prometheus annotations and Service point at its listen and admin ports.
func TestKubernetesExample(t *testing.T) {
	const file = "kubernetes/shadowproxy.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var (
		configMaps = map[string]k8sConfigMap{}
		deployment *k8sDeployment
		service    *k8sService
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var head struct {
			Kind string `yaml:"kind"`
		}
		mustDecode(t, &doc, &head)
		switch head.Kind {
		case "ConfigMap":
			var cm k8sConfigMap
			mustDecode(t, &doc, &cm)
			configMaps[cm.Metadata.Name] = cm
		case "Deployment":
			deployment = new(k8sDeployment)
			mustDecode(t, &doc, deployment)
		case "Service":
			service = new(k8sService)
			mustDecode(t, &doc, service)
		}
	}
	if deployment == nil || service == nil || len(configMaps) == 0 {
		t.Fatalf("%s needs a ConfigMap, a Deployment and a Service", file)
	}
	pod := deployment.Spec.Template

	// The sidecar and the config file it is given.
	i := slices.IndexFunc(pod.Spec.Containers, func(c k8sContainer) bool { return slices.Contains(c.Args, "run") })
	if i < 0 {
		t.Fatal("no container runs `shadowproxy run`")
	}
	sidecar := pod.Spec.Containers[i]
	j := slices.Index(sidecar.Args, "-config")
	if j < 0 || j+1 >= len(sidecar.Args) {
		t.Fatalf("sidecar args %q have no -config", sidecar.Args)
	}
	configPath := sidecar.Args[j+1]
	var cfg *Config
	for _, m := range sidecar.VolumeMounts {
		if path.Dir(configPath) != path.Clean(m.MountPath) {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cm, ok := configMaps[v.ConfigMap.Name]
				if !ok {
					t.Fatalf("volume %s mounts ConfigMap %s, which the file does not define", v.Name, v.ConfigMap.Name)
				}
				text, ok := cm.Data[path.Base(configPath)]
				if !ok {
					t.Fatalf("ConfigMap %s has no key %s", cm.Metadata.Name, path.Base(configPath))
				}
				if cfg, err = Parse(file+"#"+cm.Metadata.Name, []byte(text)); err != nil {
					t.Fatalf("the mounted config does not load:\n%v", err)
				}
			}
		}
	}
	if cfg == nil {
		t.Fatalf("-config %s is not in a mounted ConfigMap", configPath)
	}

	listenHost, listenPort := splitPort(t, cfg.Listen)
	adminHost, adminPort := splitPort(t, cfg.Admin)
	for _, h := range []string{listenHost, adminHost} {
		if h != "" && h != "0.0.0.0" && h != "::" {
			t.Errorf("config binds %s: inside a pod, listeners the kubelet, Services and Prometheus reach must bind all interfaces", h)
		}
	}
	portOf := func(ref string) int {
		if n, err := strconv.Atoi(ref); err == nil {
			return n
		}
		for _, p := range sidecar.Ports {
			if p.Name == ref {
				return p.ContainerPort
			}
		}
		t.Errorf("port %q is not a port of the sidecar", ref)
		return -1
	}
	var ports []int
	for _, p := range sidecar.Ports {
		ports = append(ports, p.ContainerPort)
	}
	if !slices.Contains(ports, listenPort) || !slices.Contains(ports, adminPort) {
		t.Errorf("sidecar container ports %v, want listen %d and admin %d", ports, listenPort, adminPort)
	}

	// Probes on the admin listener.
	for _, p := range []struct {
		name  string
		probe *k8sProbe
		path  string
	}{{"livenessProbe", sidecar.LivenessProbe, "/healthz"}, {"readinessProbe", sidecar.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("sidecar has no %s.httpGet", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || portOf(p.probe.HTTPGet.Port) != adminPort {
			t.Errorf("%s = %s on port %s, want %s on the admin port %d", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path, adminPort)
		}
	}

	// Prometheus scrapes the admin listener.
	a := pod.Metadata.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" || a["prometheus.io/port"] != strconv.Itoa(adminPort) {
		t.Errorf("scrape annotations %v, want scrape true, path /metrics, port %d", a, adminPort)
	}

	// The Service sends clients to the proxy, and selects this pod.
	if len(service.Spec.Ports) == 0 {
		t.Fatal("the Service has no ports")
	}
	for _, p := range service.Spec.Ports {
		if portOf(p.TargetPort) != listenPort {
			t.Errorf("Service targetPort %s, want the listen port %d", p.TargetPort, listenPort)
		}
	}
	for k, v := range service.Spec.Selector {
		if pod.Metadata.Labels[k] != v {
			t.Errorf("Service selects %s=%s, the pod is labelled %v", k, v, pod.Metadata.Labels)
		}
	}
	for k, v := range deployment.Spec.Selector.MatchLabels {
		if pod.Metadata.Labels[k] != v {
			t.Errorf("Deployment selects %s=%s, the pod is labelled %v", k, v, pod.Metadata.Labels)
		}
	}

	// The upstreams are containers of the same pod, on loopback.
	var podPorts []int
	for _, c := range pod.Spec.Containers {
		if c.Name == sidecar.Name {
			continue
		}
		for _, p := range c.Ports {
			podPorts = append(podPorts, p.ContainerPort)
		}
	}
	for _, r := range cfg.Routes {
		urls := []string{r.Primary.URL}
		for _, c := range r.Candidates {
			urls = append(urls, c.URL)
		}
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := strconv.Atoi(u.Port())
			if u.Hostname() != "127.0.0.1" || !slices.Contains(podPorts, p) {
				t.Errorf("route %s sends to %s, which is not a container port of the pod (%v)", r.Name, raw, podPorts)
			}
		}
	}
}

func mustDecode(t *testing.T, n *yaml.Node, v any) {
	t.Helper()
	if err := n.Decode(v); err != nil {
		t.Fatal(err)
	}
}

func splitPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return host, p
}
