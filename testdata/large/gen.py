#!/usr/bin/env python3
"""Generate a large kustomize tree for benchmarks (issue 7, issue 3 "Scale").

The tree is deterministic (no randomness) and renders to exactly DOCS documents:

    OUT/base/kustomization.yaml      lists every app file
    OUT/base/app-NNNN.yaml           one app: a Deployment, a Service and a ConfigMap
    OUT/base/...                     leftover ConfigMaps to reach DOCS exactly
    OUT/overlay/                     namePrefix, labels, commonAnnotations, a configMapGenerator
                                     (literals + file) and a secretGenerator, a strategic-merge
                                     patch targeting every Deployment and a JSON 6902 patch
                                     targeting every Service (the real target)
    OUT/overlay-nopatch/             the same overlay without the two patches (for engines that
                                     do not support patches yet)

Every Deployment reads the generated ConfigMap and Secret by their plain names, so the
name-suffix hash must be propagated into all of them (name-reference fix-up at scale).

Usage: gen.py --docs N --out DIR        (also importable: generate(docs, out))
Standard library only.
"""

import argparse
import os
import sys

GENERATED = 2  # the overlay's configMapGenerator and secretGenerator objects
PER_APP = 3  # Deployment + Service + ConfigMap
TIERS = ("frontend", "backend", "worker", "cache")


def _deployment(i):
    name = f"app-{i:04d}"
    tier = TIERS[i % len(TIERS)]
    port = 8000 + i % 1000
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/component: {tier}
spec:
  replicas: {1 + i % 3}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
        app.kubernetes.io/component: {tier}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{port}"
    spec:
      serviceAccountName: default
      containers:
      - name: app
        image: registry.example.com/team/{name}:1.{i % 50}.{i % 7}
        args: ["--listen=:{port}", "--log-level=info", "--tier={tier}"]
        ports:
        - name: http
          containerPort: {port}
          protocol: TCP
        env:
        - name: APP_NAME
          value: {name}
        - name: APP_INDEX
          value: "{i}"
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        envFrom:
        - configMapRef:
            name: shared-config
        - secretRef:
            name: shared-credentials
        resources:
          requests:
            cpu: {50 + (i % 10) * 10}m
            memory: {64 + (i % 8) * 32}Mi
          limits:
            memory: {256 + (i % 4) * 128}Mi
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
          initialDelaySeconds: 5
          periodSeconds: 10
        volumeMounts:
        - name: config
          mountPath: /etc/{name}
          readOnly: true
      volumes:
      - name: config
        configMap:
          name: {name}-config
"""


def _service(i):
    name = f"app-{i:04d}"
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: {name}
  ports:
  - name: http
    port: 80
    targetPort: http
    protocol: TCP
"""


def _configmap(name, i):
    lines = "\n".join(f"    key.{k} = value-{i}-{k}" for k in range(8))
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "alpha,beta"
  MAX_CONNECTIONS: "{100 + i}"
  app.properties: |
{lines}
"""


OVERLAY_COMMON = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../base
namePrefix: prod-
labels:
- pairs:
    env: prod
    team: platform
  includeSelectors: false
commonAnnotations:
  owner: platform-team
configMapGenerator:
- name: shared-config
  literals:
  - REGION=eu-west-1
  - CLUSTER=prod-1
  files:
  - settings.conf
secretGenerator:
- name: shared-credentials
  literals:
  - username=admin
  - password=s3cr3t
"""

OVERLAY_PATCHES = """patches:
- target:
    kind: Deployment
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      revisionHistoryLimit: 3
      template:
        spec:
          containers:
          - name: app
            env:
            - name: ENVIRONMENT
              value: prod
            resources:
              limits:
                cpu: "1"
- target:
    kind: Service
  path: service-json6902.yaml
"""

JSON6902 = """- op: add
  path: /spec/sessionAffinity
  value: ClientIP
- op: replace
  path: /spec/ports/0/port
  value: 8080
"""

SETTINGS = """# overlay settings, read by every app
timeout = 30s
retries = 3
"""


def generate(docs, out):
    """Write the tree for `docs` output documents under `out`; returns the base's resource count."""
    if docs < GENERATED + PER_APP:
        raise ValueError(f"--docs must be at least {GENERATED + PER_APP}, got {docs}")
    base_count = docs - GENERATED
    apps, extra = divmod(base_count, PER_APP)
    base = os.path.join(out, "base")
    os.makedirs(base, exist_ok=True)
    files = []
    for i in range(apps):
        fname = f"app-{i:04d}.yaml"
        text = "---\n".join([_deployment(i), _service(i), _configmap(f"app-{i:04d}-config", i)])
        _write(os.path.join(base, fname), text)
        files.append(fname)
    for j in range(extra):
        fname = f"extra-{j}.yaml"
        _write(os.path.join(base, fname), _configmap(f"extra-{j}", j))
        files.append(fname)
    _write(
        os.path.join(base, "kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"- {f}\n" for f in files),
    )
    for variant, extra_text in (("overlay", OVERLAY_PATCHES), ("overlay-nopatch", "")):
        d = os.path.join(out, variant)
        os.makedirs(d, exist_ok=True)
        _write(os.path.join(d, "kustomization.yaml"), OVERLAY_COMMON + extra_text)
        _write(os.path.join(d, "settings.conf"), SETTINGS)
        if extra_text:
            _write(os.path.join(d, "service-json6902.yaml"), JSON6902)
    return base_count


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, required=True, help="documents in the rendered output")
    ap.add_argument("--out", required=True, help="directory to write (created; files overwritten)")
    args = ap.parse_args(argv)
    try:
        generate(args.docs, args.out)
    except (ValueError, OSError) as e:
        print(f"gen.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
