#!/usr/bin/env python3
"""Command-line and config-file mistakes get one line in the project's words.

  usage     a wrong command line (unknown option, missing value, stray argument, no
            command) exits 2, the usage-error convention, with one line
            "netlogd: ..." / "netlog-rules: ...; see PROG --help" (CLI11 alone exits 105,
            106, 109 with an unprefixed line); --help and --version exit 0, and
            `netlog-rules --version` prints the version meson gives the project
  unreadable  a config netlogd cannot read: as root, a missing file says how to give one;
            as nobody (runuser), a file without read permission says which uid netlogd
            runs as and what to change; exit 1
  yaml      YAML syntax errors in the config and in the rules file: "FILE:LINE:COL: not
            valid YAML: ..." with what to change, never yaml-cpp's phrases ("end of
            sequence flow not found"); LINE within the file; exit 1
"""
import json
import os
import re
import subprocess
import tempfile

import netns
from netns import check, log, require_root

require_root("test_cli_errors")
NETLOGD, RULES = netns.binary("netlogd"), netns.binary("netlog-rules")
BUILD = os.environ["NETLOG_BUILD_ROOT"]
version = json.loads(subprocess.run(["meson", "introspect", "--projectinfo", BUILD],
                                    capture_output=True, text=True, check=True).stdout)["version"]
tmp = tempfile.mkdtemp(prefix="netlog-cli-")
os.chmod(tmp, 0o755)
netns.on_exit(lambda: subprocess.run(["rm", "-rf", tmp]))
YAMLCPP_PHRASES = ("flow not found", "end of map", "end of sequence", "illegal map value",
                   "unknown escape character", "illegal EOF", "unknown token")


def run(argv, user=None):
    if user:  # (a copy the user can run: the checkout may be in a 0700 directory)
        argv = ["runuser", "-u", user, "--", netns.readable_copy(argv[0])] + argv[1:]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def one_line(r, what, code):
    err = r.stderr.strip()
    check(r.returncode == code, f"{what}: exit {r.returncode}, want {code}: {err!r}")
    check(len(err.splitlines()) == 1, f"{what}: not one line: {err!r}")
    return err


# --- usage ------------------------------------------------------------------------------
for prog, argv, want in [
        ("netlogd", [NETLOGD, "--bogus"], r"^netlogd: unexpected argument: --bogus; see netlogd --help$"),
        ("netlogd", [NETLOGD, "-c"], r"^netlogd: --config needs a value; see netlogd --help$"),
        ("netlogd", [NETLOGD, "stray"], r"^netlogd: unexpected argument: stray; see netlogd --help$"),
        ("netlogd", [NETLOGD, "--replay"], r"^netlogd: --replay needs a value; see netlogd --help$"),
        ("netlog-rules", [RULES], r"^netlog-rules: a command is required; see netlog-rules --help$"),
        ("netlog-rules", [RULES, "plan", "--bogus"],
         r"^netlog-rules: unexpected argument: --bogus; see netlog-rules --help$"),
        ("netlog-rules", [RULES, "plan", "--backend"], r"^netlog-rules: --backend needs a value; see netlog-rules --help$"),
        ("netlog-rules", [RULES, "frobnicate"], r"^netlog-rules: unknown command 'frobnicate'")]:
    err = one_line(run(argv), " ".join(argv[1:]) or prog, 2)
    check(re.search(want, err), f"{' '.join(argv[1:])}: {err!r} does not match {want!r}")
    log(f"ok: {prog} {' '.join(argv[1:])}: exit 2: {err}")
for argv in ([NETLOGD, "--help"], [RULES, "--help"]):
    r = run(argv)
    check(r.returncode == 0 and "Usage" in r.stdout, f"{argv[1:]}: exit {r.returncode}")
for prog, binary in (("netlogd", NETLOGD), ("netlog-rules", RULES)):
    r = run([binary, "--version"])
    check(r.returncode == 0 and r.stdout.strip() == f"{prog} {version}",
          f"{prog} --version: exit {r.returncode}, {r.stdout!r}, want '{prog} {version}'")
log(f"ok: --help exit 0; --version: netlogd {version}, netlog-rules {version}")

# --- unreadable -------------------------------------------------------------------------
missing = os.path.join(tmp, "missing.yaml")
err = one_line(run([NETLOGD, "--check-config", "-c", missing]), "a missing config", 1)
check(err.startswith(f"netlogd: cannot read the config file {missing}: No such file") and "-c FILE" in err,
      f"a missing config: {err!r}")
log(f"ok: missing: {err}")
secret = os.path.join(tmp, "secret.yaml")
with open(secret, "w") as f:
    f.write("rules: r\noutputs: [{type: stdout}]\n")
os.chmod(secret, 0o600)
err = one_line(run([NETLOGD, "--check-config", "-c", secret], user="nobody"), "an unreadable config", 1)
check(f"cannot read the config file {secret}: Permission denied" in err and "uid 65534" in err
      and "readable" in err, f"an unreadable config: {err!r}")
log(f"ok: unreadable: {err}")

# --- yaml -------------------------------------------------------------------------------
rules_ok = os.path.join(netns.source_root(), "rules", "cloudfoundry.yaml")
cases = [
    ("an unclosed [", f"rules: {rules_ok}\noutputs: [{{type: stdout}}\n", "not closed by ']'"),
    ("an unclosed {", f"rules: {rules_ok}\noutputs:\n  - {{type: file, path: /tmp/x\n", "not closed by '}'"),
    ("a tab in the indentation", f"rules: {rules_ok}\noutputs:\n\t- {{type: stdout}}\n", "check the indentation"),
    ("a key after a value on one line", f"rules: {rules_ok}\noutputs: [{{type: stdout}}]\nqueue: 1: 2\n", "':' where no key"),
    ("a ] too many", f"rules: {rules_ok}\noutputs: [{{type: stdout}}]]\n", "closes nothing"),
]
for what, text, words in cases:
    path = os.path.join(tmp, "bad.yaml")
    with open(path, "w") as f:
        f.write(text)
    err = one_line(run([NETLOGD, "--check-config", "-c", path]), what, 1)
    m = re.match(rf"^netlogd: {re.escape(path)}:(\d+):(\d+): not valid YAML: (.*)$", err)
    check(m, f"{what}: not 'netlogd: FILE:LINE:COL: not valid YAML: ...': {err!r}")
    check(1 <= int(m.group(1)) <= text.count("\n") + 1, f"{what}: line {m.group(1)} outside the file")
    check(words in m.group(3), f"{what}: {err!r} does not say {words!r}")
    check(not any(p in err for p in YAMLCPP_PHRASES), f"{what}: yaml-cpp's words: {err!r}")
    log(f"ok: config with {what}: {err}")
bad_rules = os.path.join(tmp, "rules.yaml")
with open(bad_rules, "w") as f:
    f.write("nflog: {group: 42}\nclasses:\n  - {name: a, log_prefix: \"^OK_\\d+\", direction: egress, verdict: allowed}\n")
cfg = os.path.join(tmp, "cfg.yaml")
with open(cfg, "w") as f:
    f.write(f"rules: {bad_rules}\noutputs: [{{type: stdout}}]\n")
err = one_line(run([NETLOGD, "--check-config", "-c", cfg]), "a rules file with \\d in double quotes", 1)
check(re.search(rf"{re.escape(bad_rules)}:3:\d+: not valid YAML: an escape double quotes do not know, '\\d' \(write regular expressions in single quotes\)", err),
      f"a regex escape in double quotes: {err!r}")
log(f"ok: rules file with \\d in double quotes: {err}")
log("PASS: usage errors exit 2 with the program's prefix; unreadable configs and YAML syntax "
    "errors say where and what to do")
