#!/usr/bin/env python3
"""What the real Ansible connects to, per host, for the compat cases that ask (a connect.json in
the case directory: {"env": {NAME: value}}, the environment set for Ansible and by the test).

Called by scripts/gen-ansible-fixtures.sh with its deterministic environment. For each host,
`ansible HOST -m raw -a true -i INV` runs (forks 1, timeout 2s) in the case directory with its
ssh executable pointed at a recorder that writes its argv and exits 255. Written per case:
  expected-connections.json  {host: {"connection": "ssh", "destination": …, "args": [...],
                                      "resolved": {hostname, port, user, identityfile,
                                                   proxyjump, proxycommand}}
                              | {"connection": "<other>"} when Ansible did not run ssh}
`args` is Ansible's ssh command line without its own defaults (-C, -tt, and the -o options
ControlMaster, ControlPersist, ControlPath, KbdInteractiveAuthentication,
PreferredAuthentications, PasswordAuthentication, ConnectTimeout, StrictHostKeyChecking) and
without the destination and the command. `resolved` is what `ssh -G -F none ARGS DESTINATION`
makes of it (OpenSSH decides which value wins); user and identityfile only when the command line
sets them (otherwise they are this machine's defaults), proxyjump/proxycommand when set.
Usage: gen-ansible-connections.py FIXTURES_DIR CASE...
"""
import json, os, subprocess, sys, tempfile

ANSIBLE_DEFAULT_OPTIONS = {
    "controlmaster", "controlpersist", "controlpath", "kbdinteractiveauthentication",
    "preferredauthentications", "passwordauthentication", "connecttimeout",
    "stricthostkeychecking",
}

RECORDER = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["KP_RECORD"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(255)
"""


def strip_defaults(argv):
    """Ansible's ssh argv without its defaults, the destination and the command."""
    words, out, i = argv[:-2], [], 0
    while i < len(words):
        w = words[i]
        if w in ("-C", "-tt"):
            i += 1
            continue
        if w == "-o" and i + 1 < len(words):
            key = words[i + 1].split("=", 1)[0].split(" ", 1)[0].lower()
            if key not in ANSIBLE_DEFAULT_OPTIONS:
                out += [w, words[i + 1]]
            i += 2
            continue
        out.append(w)
        i += 1
    return out


def sets(args, option, flag):
    for i, w in enumerate(args):
        if w == flag or (w == "-o" and i + 1 < len(args) and args[i + 1].lower().startswith(option)):
            return True
    return False


def resolve(args, destination):
    p = subprocess.run(["ssh", "-G", "-F", "none"] + args + [destination],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[0] if p.stderr.strip() else "ssh -G failed"}
    seen = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(" ")
        seen.setdefault(k, []).append(v)
    out = {"hostname": seen["hostname"][0], "port": int(seen["port"][0])}
    out["user"] = seen["user"][0] if sets(args, "user", "-l") else None
    out["identityfile"] = seen.get("identityfile") if sets(args, "identityfile", "-i") else None
    out["proxyjump"] = seen.get("proxyjump", [None])[0]
    out["proxycommand"] = seen.get("proxycommand", [None])[0]
    return out


def hosts_of(inv, cwd, env):
    p = subprocess.run(["ansible-inventory", "-i", inv, "--list"], cwd=cwd, env=env,
                       capture_output=True, text=True, check=True)
    data = json.loads(p.stdout)
    return sorted(data.get("_meta", {}).get("hostvars", {}).keys() |
                  {h for g in data.values() if isinstance(g, dict) for h in g.get("hosts", [])})


def case(fixtures, name, work):
    case_dir = os.path.join(fixtures, name)
    spec_path = os.path.join(case_dir, "connect.json")
    if not os.path.exists(spec_path):
        return
    with open(spec_path) as f:
        spec = json.load(f)
    inv = next(f for f in sorted(os.listdir(case_dir)) if f == "inventory" or f.startswith("inventory."))
    recorder = os.path.join(work, "record-ssh")
    with open(recorder, "w") as f:
        f.write(RECORDER)
    os.chmod(recorder, 0o755)
    env = dict(os.environ, **spec.get("env", {}))
    env["ANSIBLE_SSH_EXECUTABLE"] = recorder
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = os.path.join(work, "cp")
    result = {}
    for host in hosts_of(inv, case_dir, env):
        fd, record = tempfile.mkstemp(dir=work)
        os.close(fd)
        env["KP_RECORD"] = record
        subprocess.run(["ansible", "all", "--limit", host, "-i", inv, "-m", "raw", "-a", "true",
                        "-f", "1", "-T", "2"], cwd=case_dir, env=env, capture_output=True, text=True)
        with open(record) as f:
            calls = [json.loads(line) for line in f if line.strip()]
        os.unlink(record)
        if not calls:
            # what Ansible used instead: the host's ansible_connection
            p = subprocess.run(["ansible-inventory", "-i", inv, "--host", host], cwd=case_dir,
                               env=env, capture_output=True, text=True, check=True)
            result[host] = {"connection": json.loads(p.stdout).get("ansible_connection", "?")}
            continue
        argv = calls[0]
        args = strip_defaults(argv)
        result[host] = {"connection": "ssh", "destination": argv[-2], "args": args,
                        "resolved": resolve(args, argv[-2])}
    with open(os.path.join(case_dir, "expected-connections.json"), "w") as f:
        f.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"{name}: {len(result)} connections")


if __name__ == "__main__":
    fixtures = sys.argv[1]
    work = tempfile.mkdtemp()
    for n in sys.argv[2:]:
        case(fixtures, n, work)
