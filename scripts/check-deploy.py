"""Structural checks of deploy/ files that have no validator in Debian or PyPI
(run by scripts/check-deploy.sh with the venv's Python, which has PyYAML).

  check-deploy.py rules ALERTS_YAML METRICS_SOURCE   a Prometheus rules file: the schema
      promtool checks (keys, one of alert/record, durations, label and annotation types),
      balanced brackets in each expression, and every dispatch_due_* metric it names is one
      the binary writes (a string literal in METRICS_SOURCE, CycleMetrics.swift).
  check-deploy.py kustomization DIR                  DIR/kustomization.yaml: known fields,
      every resource exists and every manifest in DIR is listed (examples excepted), images
      pinned by digest, patch targets exist.

Prints one line per problem and exits 1 when there is any.
"""
import os
import re
import sys

import yaml

problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def balanced(text):
    """Brackets of a PromQL expression, outside string literals."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack, quote, escaped = [], None, False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and quote is None


def check_rules(path, metrics_source):
    with open(metrics_source, encoding="utf-8") as f:
        known = set(re.findall(r'"(dispatch_due_[a-z0-9_]+)"', f.read()))
    with open(path, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    if not isinstance(document, dict) or set(document) != {"groups"}:
        problem(path, "the top level must be exactly one key, groups")
        return
    groups = document["groups"]
    if not isinstance(groups, list) or not groups:
        problem(path, "groups must be a non-empty list")
        return
    group_names, alert_names = set(), set()
    for g, group in enumerate(groups):
        where = f"{path}: groups[{g}]"
        if not isinstance(group, dict):
            problem(where, "a group must be a mapping")
            continue
        for key in set(group) - {"name", "interval", "limit", "query_offset", "labels", "rules"}:
            problem(where, f"unknown group field {key}")
        name = group.get("name")
        if not isinstance(name, str) or not name:
            problem(where, "name must be a non-empty string")
        elif name in group_names:
            problem(where, f"group name {name} is used twice")
        group_names.add(name)
        for key in ("interval", "query_offset"):
            if key in group and not DURATION.match(str(group[key])):
                problem(where, f"{key} {group[key]!r} is not a duration")
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            problem(where, "rules must be a non-empty list")
            continue
        for r, rule in enumerate(rules):
            check_rule(f"{where}.rules[{r}]", rule, known, alert_names)


def check_rule(where, rule, known, alert_names):
    if not isinstance(rule, dict):
        problem(where, "a rule must be a mapping")
        return
    for key in set(rule) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}:
        problem(where, f"unknown rule field {key}")
    if ("alert" in rule) == ("record" in rule):
        problem(where, "a rule needs exactly one of alert and record")
    if "alert" in rule:
        name = rule["alert"]
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            problem(where, f"alert name {name!r} is not a valid name")
        elif name in alert_names:
            problem(where, f"alert {name} is defined twice")
        else:
            alert_names.add(name)
            where = f"{where} ({name})"
        labels = rule.get("labels") or {}
        if labels.get("severity") not in ("critical", "warning", "info"):
            problem(where, "labels.severity must be critical, warning or info")
    else:
        if not isinstance(rule["record"], str) or not METRIC_NAME.match(rule["record"]):
            problem(where, f"record name {rule['record']!r} is not a valid metric name")
        for key in ("for", "keep_firing_for", "annotations"):
            if key in rule:
                problem(where, f"{key} is only for alerting rules")
    expr = rule.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        problem(where, "expr must be a non-empty string")
    else:
        if not balanced(expr):
            problem(where, f"unbalanced brackets or quotes in expr: {expr}")
        for metric in sorted(set(re.findall(r"\bdispatch_due_[a-z0-9_]+", expr)) - known):
            problem(where, f"metric {metric} is not written by dispatch-due (not in CycleMetrics.swift)")
    for key in ("for", "keep_firing_for"):
        if key in rule and not DURATION.match(str(rule[key])):
            problem(where, f"{key} {rule[key]!r} is not a duration (e.g. 5m)")
    for key in ("labels", "annotations"):
        if key not in rule:
            continue
        value = rule[key]
        if not isinstance(value, dict):
            problem(where, f"{key} must be a mapping")
            continue
        for k, v in value.items():
            if not isinstance(k, str) or not LABEL_NAME.match(k):
                problem(where, f"{key} name {k!r} is not a valid label name")
            if not isinstance(v, str):
                problem(where, f"{key}.{k} must be a string")
            elif v.count("{{") != v.count("}}"):
                problem(where, f"{key}.{k} has unbalanced template braces")


def manifests(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def images_in(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from images_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from images_in(value)


def check_kustomization(directory):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(path):
        problem(directory, "no kustomization.yaml")
        return
    with open(path, encoding="utf-8") as f:
        k = yaml.safe_load(f)
    if not isinstance(k, dict):
        problem(path, "not a mapping")
        return
    allowed = {"apiVersion", "kind", "resources", "labels", "images", "patches", "namespace",
               "namePrefix", "nameSuffix", "configMapGenerator", "secretGenerator",
               "generatorOptions", "replicas", "components"}
    for key in set(k) - allowed:
        problem(path, f"unknown or deprecated field {key}")
    if k.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or k.get("kind") != "Kustomization":
        problem(path, "apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
    resources = k.get("resources") or []
    objects = []
    for resource in resources:
        file = os.path.join(directory, resource)
        if not os.path.isfile(file):
            problem(path, f"resource {resource} does not exist")
            continue
        objects += manifests(file)
    listed = set(resources)
    for name in sorted(os.listdir(directory)):
        if name.endswith(".yaml") and name != "kustomization.yaml" and ".example." not in name and name not in listed:
            problem(path, f"{name} is not listed in resources (examples are named *.example.yaml)")
    pinned = {}
    for image in k.get("images") or []:
        if not isinstance(image, dict) or "name" not in image:
            problem(path, "each images entry needs a name")
            continue
        if "newTag" in image:
            problem(path, f"image {image['name']}: pin by digest, not newTag")
        if not DIGEST.match(str(image.get("digest", ""))):
            problem(path, f"image {image['name']}: digest must be sha256:<64 hex digits>")
        pinned[image["name"]] = image
    for obj in objects:
        for image in images_in(obj):
            name, _, digest = image.partition("@")
            if not DIGEST.match(digest):
                problem(path, f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}: image {image} is not pinned by digest")
            if name not in pinned:
                problem(path, f"image {name} has no images entry with a digest")
    names = {(o.get("kind"), o.get("metadata", {}).get("name")) for o in objects}
    for patch in k.get("patches") or []:
        target = (patch or {}).get("target") or {}
        if (target.get("kind"), target.get("name")) not in names:
            problem(path, f"patch target {target.get('kind')} {target.get('name')} is not among the resources")
        if "patch" not in (patch or {}) and "path" not in (patch or {}):
            problem(path, "a patch needs patch or path")


def main(argv):
    if len(argv) == 4 and argv[1] == "rules":
        check_rules(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "kustomization":
        check_kustomization(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 64
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, yaml.YAMLError) as error:
        print(error)
        sys.exit(1)
