#!/usr/bin/env python3
"""Regenerates the values table of charts/bucketcors/README.md from values.yaml comments.

A comment line starting with `# --` documents the key on the next key line (following `#` lines
continue it). The table goes between the `<!-- values:start -->` and `<!-- values:end -->`
markers; the rest of the README is written by hand.

    hack/chart-readme.py            # rewrite README.md
    hack/chart-readme.py --check    # exit 1 when README.md is stale or a value is undocumented
    hack/chart-readme.py [--check] --chart DIR   # another chart directory (tests)
"""

import json
import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("chart-readme.py: PyYAML is needed (pip install pyyaml, or apt-get install python3-yaml)")

CHART = Path(__file__).resolve().parent.parent / "charts" / "bucketcors"
START, END = "<!-- values:start -->", "<!-- values:end -->"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")


def documented_keys(text):
    """Yields (dotted path, description) for every key with a `# --` comment, in file order."""
    stack = []  # (indent, key)
    pending = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        m = KEY.match(line)
        if not m:
            continue
        indent = len(m.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group("key")))
        path = ".".join(k for _, k in stack)
        if pending is not None:
            yield path, " ".join(p for p in pending if p)
            pending = None
        else:
            yield path, None


def lookup(values, path):
    node = values
    for part in path.split("."):
        node = node[part]
    return node


def type_name(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def cell(s):
    return s.replace("|", "\\|").replace("\n", " ")


def table(values_text):
    values = yaml.safe_load(values_text)
    rows, undocumented, documented = [], [], []
    for path, desc in documented_keys(values_text):
        value = lookup(values, path)
        if desc is not None:
            documented.append(path)
            default = json.dumps(value, separators=(", ", ": "))
            rows.append(f"| `{path}` | {type_name(value)} | `{cell(default)}` | {cell(desc)} |")
        elif not isinstance(value, dict) or not value:
            # A leaf (or empty map) must be documented itself or below a documented key.
            if not any(path.startswith(d + ".") for d in documented):
                undocumented.append(path)
    head = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    return "\n".join(head + rows) + "\n", undocumented


def render(readme, values_text):
    body, undocumented = table(values_text)
    if START not in readme or END not in readme:
        raise SystemExit(f"chart-readme.py: README.md lacks the {START} / {END} markers")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{body}{END}{after}", undocumented


def main(argv):
    args = argv[1:]
    check = "--check" in args
    if check:
        args.remove("--check")
    chart = CHART
    if len(args) == 2 and args[0] == "--chart":
        chart = Path(args[1])
    elif args:
        sys.exit(__doc__)
    values_text = (chart / "values.yaml").read_text()
    readme_path = chart / "README.md"
    readme = readme_path.read_text()
    new, undocumented = render(readme, values_text)
    if undocumented:
        sys.exit("chart-readme.py: values without a `# --` comment: " + ", ".join(undocumented))
    if check:
        if new != readme:
            sys.exit("chart-readme.py: charts/bucketcors/README.md is stale; run hack/chart-readme.py")
        return
    if new != readme:
        readme_path.write_text(new)
        print(f"updated {readme_path}")


if __name__ == "__main__":
    main(sys.argv)
