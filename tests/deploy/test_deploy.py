#!/usr/bin/env python3
"""test_deploy.py - deploy/ parses and hangs together: the Kubernetes manifests (YAML, and
`kubectl kustomize` where kubectl is installed), the configurations `hyperlight serve` reads,
the systemd unit (`systemd-analyze verify` where systemd is installed), the container file.

Usage: test_deploy.py SOURCE_DIR HYPERLIGHT
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # Debian: python3-yaml (scripts/deps.sh)
    print("skipped: python3-yaml is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import check, done  # noqa: E402

SRC, HL = sys.argv[1], sys.argv[2]
DEPLOY = os.path.join(SRC, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")


def load(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


# ---- Kubernetes ----------------------------------------------------------------------------
docs = {}
for name in sorted(os.listdir(K8S)):
    if name.endswith(".yaml"):
        try:
            ds = load(name)
            check(all(isinstance(d, dict) and "kind" in d and "apiVersion" in d for d in ds),
                  "%s parses, each document has apiVersion and kind" % name)
            for d in ds:
                docs[d["kind"]] = d
        except yaml.YAMLError as e:
            check(False, "%s parses" % name, e)

kust = docs.get("Kustomization", {})
for r in kust.get("resources", []) + [f for g in kust.get("configMapGenerator", [])
                                      for f in g.get("files", [])]:
    check(os.path.exists(os.path.join(K8S, r)), "kustomization names an existing file: " + r)

dep = docs.get("Deployment", {})
spec = dep.get("spec", {}).get("template", {}).get("spec", {})
c = (spec.get("containers") or [{}])[0]
res = c.get("resources", {})
check(res.get("limits", {}).get("devices.kubevirt.io/kvm") == "1",
      "the container asks the device plugin for /dev/kvm")
check(all(k in res.get("requests", {}) for k in ("cpu", "memory")) and "memory" in res.get("limits", {}),
      "resource requests and a memory limit")
for p in ("startupProbe", "readinessProbe", "livenessProbe"):
    check(c.get(p, {}).get("httpGet", {}).get("path") == "/healthz", p + " on /healthz")
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
check(ports.get("http") == 8080, "container port http = 8080")
sel = dep.get("spec", {}).get("selector", {}).get("matchLabels", {})
labels = dep.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
check(sel and all(labels.get(k) == v for k, v in sel.items()), "the selector matches the pod labels")
svc = docs.get("Service", {})
check(svc.get("spec", {}).get("selector") == sel and
      svc["spec"]["ports"][0].get("targetPort") == "http", "the Service selects the pods' http port")
hpa = docs.get("HorizontalPodAutoscaler", {})
ref = hpa.get("spec", {}).get("scaleTargetRef", {})
check(ref.get("kind") == "Deployment" and ref.get("name") == dep.get("metadata", {}).get("name"),
      "the HorizontalPodAutoscaler scales the Deployment")
check(c.get("securityContext", {}).get("allowPrivilegeEscalation") is False and
      spec.get("securityContext", {}).get("runAsNonRoot") is True, "non-root, no privilege escalation")

with open(os.path.join(K8S, "serve.json")) as f:
    sj = json.load(f)
grace = spec.get("terminationGracePeriodSeconds", 30)
pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
pre_s = int(pre[1]) if len(pre) == 2 and pre[0] == "sleep" else 0
longest = max([sj.get("timeout_ms", 1000)] + [g.get("timeout_ms", 0) for g in sj.get("guests", [])])
check(grace > pre_s + sj.get("drain_timeout_ms", 10000) / 1000 + longest / 1000,
      "terminationGracePeriodSeconds covers preStop + drain + the longest call",
      (grace, pre_s, sj.get("drain_timeout_ms"), longest))
check(sj.get("listen", "").endswith(":8080"), "the configuration listens on the container port")

kubectl = shutil.which("kubectl")
if kubectl:
    r = subprocess.run([kubectl, "kustomize", K8S], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = [d for d in yaml.safe_load_all(r.stdout) if d] if r.returncode == 0 else []
    check(r.returncode == 0 and sorted(d["kind"] for d in out) ==
          ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"],
          "kubectl kustomize renders ConfigMap, Deployment, Service, HPA", r.stderr[-300:])
    cm = [d for d in out if d["kind"] == "ConfigMap"]
    vols = [v for v in spec.get("volumes", []) if "configMap" in v]
    rendered = [d for d in out if d["kind"] == "Deployment"]
    rvols = rendered[0]["spec"]["template"]["spec"]["volumes"] if rendered else []
    check(cm and vols and rvols and rvols[0]["configMap"]["name"] == cm[0]["metadata"]["name"],
          "the Deployment mounts the generated ConfigMap")
else:
    print("# kubectl not installed: kustomize rendering not checked")

# ---- The configurations, read by the server's own parser ------------------------------------
for path in (os.path.join(K8S, "serve.json"), os.path.join(DEPLOY, "systemd", "serve.json")):
    r = subprocess.run([HL, "serve", "--config", path, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    check(r.returncode == 0, "hyperlight serve accepts " + os.path.relpath(path, SRC),
          r.stderr.decode(errors="replace"))

# ---- systemd ----------------------------------------------------------------------------------
unit = os.path.join(DEPLOY, "systemd", "hyperlight-serve.service")
with open(unit) as f:
    text = f.read()
for opt in ("DeviceAllow=/dev/kvm rw", "DevicePolicy=closed", "NoNewPrivileges=yes",
            "ProtectSystem=strict", "DynamicUser=yes", "SystemCallFilter=", "KillSignal=SIGTERM",
            "MemoryDenyWriteExecute=yes"):
    check(opt in text, "the unit sets " + opt)
sa = shutil.which("systemd-analyze")
if sa:
    d = tempfile.mkdtemp()
    try:
        with open(os.path.join(d, "hyperlight-serve.service"), "w") as f:
            f.write(text.replace("/usr/local/bin/hyperlight", os.path.abspath(HL)))
        r = subprocess.run([sa, "verify", os.path.join(d, "hyperlight-serve.service")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(r.returncode == 0 and not r.stdout.strip(), "systemd-analyze verify", r.stdout)
    finally:
        shutil.rmtree(d)
else:
    print("# systemd-analyze not installed: the unit is not verified")

# ---- The container file --------------------------------------------------------------------------
with open(os.path.join(DEPLOY, "Containerfile")) as f:
    cf = f.read()
for line in cf.splitlines():
    if line.startswith("COPY ") and "--from" not in line:
        srcs = line.split()[1:-1]
        check(all(s == "." or os.path.exists(os.path.join(SRC, s)) for s in srcs),
              "Containerfile copies existing files: " + " ".join(srcs))
check("STOPSIGNAL SIGTERM" in cf and "USER " in cf and "hyperlight\", \"serve\"" in cf,
      "the image runs hyperlight serve as a non-root user, stopped by SIGTERM")

sys.exit(done())
