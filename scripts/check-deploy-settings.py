#!/usr/bin/env python3
"""Every environment variable that compose.yaml and the rendered Kubernetes
manifests give a tickpulse process must be a setting of that program, as
`tickpulse --help` (or `tickpulse-feeder --help`) lists it; a misspelt or
removed setting would otherwise be ignored without a word.

Usage: check-deploy-settings.py BIN_DIR compose.yaml RENDERED.yaml...
"""
import re
import subprocess
import sys

import yaml


def settings(binary):
    """The env names in a program's --help (`[env: NAME=…]`)."""
    text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    found = set(re.findall(r"\[env: ([A-Z0-9_]+)[=\]]", text))
    if not found:
        sys.exit(f"{binary} --help lists no settings")
    return found


def compose_env(path):
    """(service, program, names) for each service that runs a tickpulse program."""
    doc = yaml.safe_load(open(path))
    for name, svc in (doc.get("services") or {}).items():
        image = str(svc.get("image", ""))
        if "build" not in svc and "tickpulse" not in image:
            continue  # Redis, Postgres, the proxy: their own settings
        entry = svc.get("entrypoint") or ["tickpulse"]
        program = entry[0] if isinstance(entry, list) else entry.split()[0]
        env = svc.get("environment") or {}
        names = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        yield f"{path}: service {name}", program, set(names)


def manifest_env(path):
    """(workload, program, names) for each tickpulse container, with the keys
    of the ConfigMaps and Secrets it takes whole (envFrom)."""
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    data = {}
    for d in docs:
        if d["kind"] in ("ConfigMap", "Secret"):
            keys = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys())
            data[(d["kind"], d["metadata"]["name"])] = keys
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            names = {e["name"] for e in c.get("env") or []}
            for src in c.get("envFrom") or []:
                for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if ref in src:
                        key = (kind, src[ref]["name"])
                        if key not in data:
                            sys.exit(f"{path}: {d['metadata']['name']} takes {kind} {key[1]}, which is not rendered")
                        names |= data[key]
            program = (c.get("command") or ["tickpulse"])[0]
            yield f"{path}: {d['kind']} {d['metadata']['name']}, container {c['name']}", program, names


def main():
    bin_dir, compose, *rendered = sys.argv[1:]
    known = {p: settings(f"{bin_dir}/{p}") for p in ("tickpulse", "tickpulse-feeder")}
    wrong = []
    checked = 0
    places = list(compose_env(compose))
    for path in rendered:
        places.extend(manifest_env(path))
    for where, program, names in places:
        if program not in known:
            wrong.append(f"{where}: runs {program}, which is not a tickpulse program")
            continue
        checked += 1
        for n in sorted(names - known[program]):
            wrong.append(f"{where}: {n} is not a setting of {program} (see {program} --help)")
    if wrong:
        print("\n".join(wrong), file=sys.stderr)
        sys.exit(1)
    print(f"    {checked} tickpulse processes checked: every variable they are given is a setting")


if __name__ == "__main__":
    main()
