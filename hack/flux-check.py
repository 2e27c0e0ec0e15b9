#!/usr/bin/env python3
"""Structural checks on the Flux example (deploy/flux/*.yaml), used by hack/test-chart.sh.

    flux-check.py DIR [VALUES_OUT]

Parses every YAML file in DIR and checks that the objects hang together: each document has
apiVersion, kind and metadata.name; Kustomizations have the required fields, and their
`dependsOn` entries name Kustomizations defined in DIR (no cycles); sourceRefs name a source
defined in DIR or the GitRepository `flux-system/flux-system` that `flux bootstrap` creates;
`healthChecks` and `healthCheckExprs` entries have their required fields (and `healthChecks`
are not combined with `wait: true`, which makes Flux ignore them); a HelmRelease's chart path
exists in this repository (for a GitRepository source) and has a Chart.yaml. With VALUES_OUT,
writes the values of the (single) HelmRelease there as JSON, so the caller can render the
chart with them (`helm template -f VALUES_OUT`: the chart's schema refuses unknown keys).

Prints one line per problem and exits 1 when there is any. Not checked: the Flux CRD schemas
themselves and the CEL expressions (no Flux here).
"""

import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Sources a Flux example may use without defining them.
EXTERNAL = {("GitRepository", "flux-system", "flux-system")}
SOURCE_KINDS = {"GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart"}

problems = []


def problem(msg):
    problems.append(msg)


def load(directory):
    docs = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith((".yaml", ".yml")):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path) as f:
                for i, doc in enumerate(yaml.safe_load_all(f)):
                    if doc is None:
                        continue
                    if not isinstance(doc, dict):
                        problem(f"{name} document {i}: not a mapping")
                        continue
                    docs.append((f"{name} document {i}", doc))
        except yaml.YAMLError as e:
            problem(f"{name}: YAML: {e}")
    return docs


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    directory = sys.argv[1]
    values_out = sys.argv[2] if len(sys.argv) == 3 else None
    docs = load(directory)
    if not docs:
        problem(f"{directory}: no YAML documents")

    objects = {}
    for where, d in docs:
        meta = d.get("metadata") or {}
        for field, value in (("apiVersion", d.get("apiVersion")), ("kind", d.get("kind")),
                             ("metadata.name", meta.get("name"))):
            if not value:
                problem(f"{where}: no {field}")
        key = (d.get("kind"), meta.get("namespace", ""), meta.get("name"))
        if key in objects:
            problem(f"{where}: {key} defined twice")
        objects[key] = (where, d)

    def ref_ok(where, ref, own_ns, what):
        kind, name = ref.get("kind"), ref.get("name")
        if not kind or not name:
            problem(f"{where}: {what} needs kind and name: {ref}")
            return
        key = (kind, ref.get("namespace", own_ns), name)
        if kind not in SOURCE_KINDS:
            problem(f"{where}: {what} kind {kind} is not a Flux source kind")
        elif key not in objects and key not in EXTERNAL:
            problem(f"{where}: {what} {key[1]}/{name} ({kind}) is not defined in {directory}")

    kustomizations = {}
    releases = []
    for key, (where, d) in objects.items():
        kind, ns, name = key
        spec = d.get("spec") or {}
        if kind == "Kustomization" and d.get("apiVersion", "").startswith("kustomize.toolkit.fluxcd.io/"):
            kustomizations[(ns, name)] = where
            for field in ("interval", "sourceRef", "prune"):
                if field not in spec:
                    problem(f"{where}: Kustomization {name} has no spec.{field}")
            ref_ok(where, spec.get("sourceRef") or {}, ns, "sourceRef")
            if spec.get("wait") and spec.get("healthChecks"):
                problem(f"{where}: healthChecks are ignored with wait: true")
            for hc in spec.get("healthChecks") or []:
                for field in ("kind", "name"):
                    if not hc.get(field):
                        problem(f"{where}: healthChecks entry without {field}: {hc}")
            for expr in spec.get("healthCheckExprs") or []:
                for field in ("apiVersion", "kind", "current"):
                    if not expr.get(field):
                        problem(f"{where}: healthCheckExprs entry without {field}")
        elif kind == "HelmRelease":
            releases.append((where, d))
            chart = ((spec.get("chart") or {}).get("spec")) or {}
            ref = chart.get("sourceRef") or {}
            ref_ok(where, ref, ns, "chart.spec.sourceRef")
            if ref.get("kind") == "GitRepository":
                path = os.path.join(ROOT, chart.get("chart", ""))
                if not os.path.isfile(os.path.join(path, "Chart.yaml")):
                    problem(f"{where}: chart {chart.get('chart')!r} is not a chart of this repository")

    # dependsOn: Kustomizations only (Flux resolves names among Kustomizations), no cycles.
    deps = {}
    for (ns, name), where in kustomizations.items():
        d = objects[("Kustomization", ns, name)][1]
        deps[(ns, name)] = []
        for dep in (d.get("spec") or {}).get("dependsOn") or []:
            target = (dep.get("namespace", ns), dep.get("name"))
            if target not in kustomizations:
                problem(f"{where}: dependsOn {target[0]}/{target[1]} is not a Kustomization in {directory}")
            else:
                deps[(ns, name)].append(target)

    def visit(node, path):
        if node in path:
            problem("dependsOn cycle: " + " -> ".join(f"{n}/{m}" for n, m in path + [node]))
            return
        for nxt in deps.get(node, []):
            visit(nxt, path + [node])

    for node in deps:
        visit(node, [])

    if values_out is not None:
        if len(releases) != 1:
            problem(f"expected one HelmRelease in {directory}, found {len(releases)}")
        else:
            with open(values_out, "w") as f:
                json.dump((releases[0][1].get("spec") or {}).get("values") or {}, f)

    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
