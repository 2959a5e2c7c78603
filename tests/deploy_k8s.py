#!/usr/bin/env python3
"""Builds deploy/k8s the way kustomize does and validates every object.

Usage: deploy_k8s.py KUSTOMIZATION_DIR

No cluster and no network: the schemas are the Kubernetes OpenAPI schemas
that the PyPI package kubernetes-validate carries. The build follows the
kustomization.yaml files itself (resources, configMapGenerator,
secretGenerator, namespace, images) and refuses any other kustomize
feature, so that what it validates is what `kubectl apply -k` would send.
Every file in the tree must be used by some kustomization.yaml: a manifest
nobody includes would pass here and never reach a cluster. When kubectl
with a built-in kustomize (v4 or later) is on PATH, its rendering is
validated too and must equal this one, apart from the content hashes
kustomize appends to generated names.

Prints the objects as a JSON list on stdout (for tests/deploy_k8s.rs);
progress and problems go to stderr. Exits 1 on any problem.
"""

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys

import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import yaml

# Kubernetes versions to validate against: a widely deployed older one and
# the newest the installed kubernetes-validate knows.
OLDEST = "1.30.0"

KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "configMapGenerator",
    "secretGenerator",
    "images",
}
GENERATOR_KEYS = {"name", "files", "type"}
CLUSTER_SCOPED = {"Namespace"}

problems = []


def problem(msg):
    problems.append(msg)
    print(f"deploy_k8s.py: {msg}", file=sys.stderr)


def generator_files(base, gen, used):
    """(key, bytes) for each `files:` entry of a generator."""
    out = []
    for entry in gen.get("files", []):
        key, _, path = entry.rpartition("=")
        path = os.path.normpath(os.path.join(base, path))
        if not key:
            key = os.path.basename(path)
        used.add(path)
        with open(path, "rb") as f:
            out.append((key, f.read()))
    return out


def build(base, used):
    """The objects of the kustomization in directory `base`."""
    kpath = os.path.join(base, "kustomization.yaml")
    used.add(os.path.normpath(kpath))
    with open(kpath) as f:
        k = yaml.safe_load(f) or {}
    for key in set(k) - KUSTOMIZATION_KEYS:
        problem(f"{kpath}: {key}: a kustomize feature this check does not model")
    docs = []
    for res in k.get("resources", []):
        path = os.path.normpath(os.path.join(base, res))
        if os.path.isdir(path):
            docs += build(path, used)
        elif os.path.isfile(path):
            used.add(path)
            with open(path) as f:
                for d in yaml.safe_load_all(f):
                    if d is not None:
                        docs.append(d)
        else:
            problem(f"{kpath}: resource {res} does not exist")
    for gen in k.get("configMapGenerator", []):
        for key in set(gen) - GENERATOR_KEYS:
            problem(f"{kpath}: configMapGenerator {gen.get('name')}: {key} not modelled")
        data = {}
        for key, raw in generator_files(base, gen, used):
            data[key] = raw.decode("utf-8")
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": gen["name"]},
                "data": data,
            }
        )
    for gen in k.get("secretGenerator", []):
        for key in set(gen) - GENERATOR_KEYS:
            problem(f"{kpath}: secretGenerator {gen.get('name')}: {key} not modelled")
        data = {}
        for key, raw in generator_files(base, gen, used):
            data[key] = base64.b64encode(raw).decode("ascii")
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": gen["name"]},
                "type": gen.get("type", "Opaque"),
                "data": data,
            }
        )
    ns = k.get("namespace")
    if ns:
        for d in docs:
            if d.get("kind") not in CLUSTER_SCOPED:
                d.setdefault("metadata", {})["namespace"] = ns
    for img in k.get("images", []):
        for d in docs:
            retag(d, img)
    return docs


def retag(doc, img):
    """kustomize's `images:` on one object's containers."""
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        name = re.split(r"[:@]", c.get("image", ""), maxsplit=1)[0]
        if name == img["name"]:
            c["image"] = f"{img.get('newName', name)}:{img['newTag']}"


def validate(docs, where):
    versions = sorted(
        {OLDEST, kv_utils.latest_version()},
        key=lambda v: [int(x) for x in v.split(".")],
    )
    if OLDEST not in kv_utils.all_versions():
        problem(f"kubernetes-validate has no schemas for {OLDEST}")
        return
    for d in docs:
        what = f"{where}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
        for v in versions:
            try:
                kubernetes_validate.validate(d, v, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                problem(f"{what} is not valid for Kubernetes {v}: {path}: {e.message}")
            except Exception as e:  # SchemaNotFound, InvalidSchema...
                problem(f"{what}: Kubernetes {v}: {type(e).__name__}: {e}")
    print(
        f"deploy_k8s.py: {len(docs)} objects from {where} checked against the "
        f"Kubernetes {' and '.join(versions)} schemas (strict)",
        file=sys.stderr,
    )


def check_all_files_used(root, used):
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.normpath(os.path.join(dirpath, f))
            if path not in used:
                problem(f"{path} is in no kustomization.yaml: it would never be applied")


def unhash(docs):
    """kubectl's rendering with generated names back to their bases."""
    names = {}
    for d in docs:
        if d.get("kind") in ("ConfigMap", "Secret"):
            n = d["metadata"]["name"]
            m = re.fullmatch(r"(.+)-[a-z0-9]{10}", n)
            if m:
                names[n] = m.group(1)

    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return names.get(v, v)
        return v

    return [walk(d) for d in docs]


def decoded(docs):
    """Secrets with their data decoded: kustomize wraps long base64 lines."""
    out = copy.deepcopy(docs)
    for d in out:
        if d.get("kind") == "Secret":
            d["data"] = {k: base64.b64decode(v) for k, v in d.get("data", {}).items()}
    return out


def key(d):
    m = d.get("metadata", {})
    return (d.get("kind"), m.get("namespace", ""), m.get("name"))


def compare_with_kubectl(root, docs):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print(
            "deploy_k8s.py: no kubectl here: checked the kustomization.yaml files only",
            file=sys.stderr,
        )
        return
    ver = subprocess.run(
        [kubectl, "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        kz = json.loads(ver.stdout).get("kustomizeVersion", "")
    except ValueError:
        kz = ""
    m = re.match(r"v(\d+)", kz)
    if not m or int(m.group(1)) < 4:
        print(
            f"deploy_k8s.py: kubectl's kustomize {kz or '(unknown)'} is too old to compare",
            file=sys.stderr,
        )
        return
    out = subprocess.run(
        [kubectl, "kustomize", root], capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        problem(f"kubectl kustomize {root} failed: {out.stderr.strip()}")
        return
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d is not None]
    validate(rendered, f"kubectl kustomize (kustomize {kz})")
    mine = {key(d): d for d in decoded(docs)}
    theirs = {key(d): d for d in decoded(unhash(rendered))}
    for k in sorted(set(mine) | set(theirs), key=str):
        if k not in theirs:
            problem(f"{k}: built here but not by kubectl kustomize")
        elif k not in mine:
            problem(f"{k}: built by kubectl kustomize but not here")
        elif mine[k] != theirs[k]:
            problem(f"{k}: kubectl kustomize builds it differently")
    print(f"deploy_k8s.py: kubectl kustomize ({kz}) builds the same objects", file=sys.stderr)


def main():
    root = os.path.normpath(sys.argv[1])
    used = set()
    docs = build(root, used)
    check_all_files_used(root, used)
    validate(copy.deepcopy(docs), "the kustomization")
    compare_with_kubectl(root, docs)
    json.dump(docs, sys.stdout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
