#!/usr/bin/env bash
# Regenerates the Ansible compatibility fixtures under test/fixtures/ansible/ from the real
# Ansible installed on this machine (ansible-inventory and ansible). Re-runnable; the tests only
# read the committed output, so Ansible is not needed to run them.
#
# Each case directory holds inventory.ini or inventory.yml, or an inventory/ directory of files
# (plus optional group_vars/ and host_vars/), optionally vault-password (a test password for the
# case's committed, already encrypted vault files: never re-encrypted here, as encryption is
# salted at random), and patterns.txt: one host pattern per line, or "PATTERN --limit LIMIT";
# blank lines and lines starting with '#' are skipped. Written per case:
#   expected-list.json               ansible-inventory -i INV --list
#   expected-patterns.json           {line: [hosts in order]}
#                                    | {line: {"anyOrder": [sorted hosts]}} when Ansible's order
#                                      varied between runs (it walks nested groups through a set)
#                                    | {line: {"error": "message"}} when Ansible rejects it
#   expected-pattern-warnings.json   {line: [warnings]} for lines where Ansible warned
#   expected-unparsed.json           [files of an inventory/ directory Ansible could not parse]
#   expected-connections.json        what Ansible's ssh was given per host, for a case with a
#                                    connect.json (scripts/gen-ansible-connections.py)
# Usage: scripts/gen-ansible-fixtures.sh [case-name...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="$root/test/fixtures/ansible"

command -v ansible-inventory >/dev/null || { echo "ansible-inventory not found" >&2; exit 1; }

# Deterministic, quiet, and independent of any user configuration.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: >"$work/ansible.cfg"
export ANSIBLE_CONFIG="$work/ansible.cfg"
export ANSIBLE_HOME="$work/home"
export ANSIBLE_LOCAL_TEMP="$work/tmp"
export ANSIBLE_LOCALHOST_WARNING=False
export ANSIBLE_INVENTORY_UNPARSED_WARNING=False
export ANSIBLE_DEPRECATION_WARNINGS=False
export ANSIBLE_SYSTEM_WARNINGS=False
export ANSIBLE_NOCOWS=1
export ANSIBLE_NOCOLOR=1
export ANSIBLE_FORCE_COLOR=0
export ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_HOST_PATTERN_MISMATCH=warning
export ANSIBLE_INVENTORY_ENABLED=yaml,ini
export ANSIBLE_VARS_ENABLED=host_group_vars
export ANSIBLE_HASH_BEHAVIOUR=replace
export ANSIBLE_STDOUT_CALLBACK=default
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
export PYTHONHASHSEED=0
unset ANSIBLE_INVENTORY ANSIBLE_LIMIT

about="$(ansible --version)" # read it whole: `| head` would break Ansible's pipe
version="$(printf '%s\n' "$about" | sed -n 1p)"
python="$(printf '%s\n' "$about" | sed -n 's/^ *python version = \([^ ]*\).*/\1/p')"
printf '%s\npython %s\n' "$version" "$python" >"$fixtures/VERSION"
echo "using $version (python $python)"

export FIXTURES="$fixtures" WORK="$work"
python3 - "$@" <<'PY'
import json, os, re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

fixtures = os.environ["FIXTURES"]
work = os.environ["WORK"]
RUNS = 5  # Ansible's host order under nested groups depends on set iteration: look for variation

def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr

def unwrap(text):
    """Ansible wraps warnings at 80 columns: join continuation lines back."""
    out = []
    for line in text.splitlines():
        if out and line and not re.match(r"^(\[WARNING\]|\[DEPRECATION|ERROR!| *hosts \(\d+\):)", line) and not line.startswith("    "):
            # textwrap also breaks after hyphens: no space was there
            out[-1] += ("" if out[-1].endswith("-") else " ") + line.strip()
        else:
            out.append(line)
    return out

def vault_args(case_dir):
    pw = os.path.join(case_dir, "vault-password")
    return ["--vault-password-file", pw] if os.path.exists(pw) else []

def list_hosts(inv, case_dir, args):
    code, out, err = run(["ansible", "-i", inv] + vault_args(case_dir) + args + ["--list-hosts"], case_dir)
    lines = unwrap(out + "\n" + err)
    hosts, reading, error = None, False, None
    for line in unwrap(out):
        m = re.match(r"^ *hosts \((\d+)\):$", line)
        if m:
            hosts, reading = [], True
        elif reading and line.startswith("    "):
            hosts.append(line.strip())
    for line in lines:
        if line.startswith("ERROR! "):
            error = line[len("ERROR! "):].strip()
    warnings = [re.sub(r"^\[WARNING\]: *", "", l).strip() for l in lines if l.startswith("[WARNING]")]
    return hosts, error, warnings

# Warnings about the pattern itself (not about parsing the inventory).
PATTERN_WARNINGS = ("Could not match supplied host pattern", "Use [x:y] inclusive subscripts")

def write_if_any(path, data):
    """An expectation file that exists only when it has something to say."""
    if data:
        with open(path, "w") as f:
            f.write(json.dumps(data, indent=2) + "\n")
    elif os.path.exists(path):
        os.remove(path)

def case(name):
    case_dir = os.path.join(fixtures, name)
    invs = [f for f in sorted(os.listdir(case_dir)) if f == "inventory" or f.startswith("inventory.")]
    if len(invs) != 1:
        raise SystemExit(f"{name}: expected exactly one inventory file, found {invs}")
    inv = os.path.join(case_dir, invs[0])
    # ansible-inventory from a neutral directory, so no playbook-adjacent group_vars are read.
    code, out, err = run(["ansible-inventory", "-i", inv] + vault_args(case_dir) + ["--list"], work)
    unparsed = sorted(os.path.relpath(p, case_dir) for p in re.findall(r"Unable to parse (\S+) as an inventory source", " ".join(unwrap(err))))
    if code != 0 or (not os.path.isdir(inv) and ("Failed to parse" in err or unparsed)):
        raise SystemExit(f"{name}: ansible-inventory failed:\n{err}")
    write_if_any(os.path.join(case_dir, "expected-unparsed.json"), unparsed)
    with open(os.path.join(case_dir, "expected-list.json"), "w") as f:
        f.write(json.dumps(json.loads(out), indent=2, sort_keys=True) + "\n")

    patterns, warnings = {}, {}
    lines = []
    pfile = os.path.join(case_dir, "patterns.txt")
    if os.path.exists(pfile):
        with open(pfile) as f:
            lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    def one(line):
        pattern, _, limit = line.partition(" --limit ")
        args = [pattern] + (["--limit", limit] if limit else [])
        runs = [list_hosts(inv, case_dir, args) for _ in range(RUNS)]
        hosts, error, warns = runs[0]
        if error is not None and "leaves us with no hosts" not in error:
            return line, {"error": error}, warns
        if hosts is None and limit and error is not None and "leaves us with no hosts" in error:
            hosts = []
        if hosts is None:
            raise SystemExit(f"{name}: no host list for {line!r}: {error}")
        if not hosts and not limit:
            # Ansible's ad hoc CLI turns pattern errors into "No hosts matched": ask --limit,
            # which reports them.
            _, lerror, _ = list_hosts(inv, case_dir, ["all", "--limit", pattern])
            if lerror is not None and "leaves us with no hosts" not in lerror:
                return line, {"error": lerror}, warns
        orders = {tuple(r[0] or []) for r in runs}
        for r in runs:
            if r[1] is not None and "leaves us with no hosts" not in r[1]:
                return line, {"error": r[1]}, warns
        if len(orders) > 1:
            return line, {"anyOrder": sorted(hosts)}, warns
        return line, hosts, warns
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 8) as pool:
        for line, result, warns in pool.map(one, lines):
            patterns[line] = result
            warns = [w for w in warns if w.startswith(PATTERN_WARNINGS)]
            if warns:
                warnings[line] = warns
    with open(os.path.join(case_dir, "expected-patterns.json"), "w") as f:
        f.write(json.dumps(patterns, indent=2) + "\n")
    write_if_any(os.path.join(case_dir, "expected-pattern-warnings.json"), warnings)
    print(f"{name}: {len(patterns)} patterns")

names = sys.argv[1:] or sorted(d for d in os.listdir(fixtures) if os.path.isdir(os.path.join(fixtures, d)))
for n in names:
    case(n)
PY

# What Ansible connects to, per host, for the cases with a connect.json (its ssh recorded).
if [ "$#" -gt 0 ]; then cases=("$@"); else
  mapfile -t cases < <(cd "$fixtures" && find . -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort)
fi
python3 "$root/scripts/gen-ansible-connections.py" "$fixtures" "${cases[@]}"

# Leave the JSON as the repository's formatter writes it (the tests compare parsed data).
if [ -x "$root/node_modules/.bin/prettier" ]; then
  "$root/node_modules/.bin/prettier" --log-level warn --write "$fixtures"
fi
