#!/usr/bin/env python3
"""The BOSH job (bosh/jobs/netlogd) and ops-file (bosh/operations/use-netlogd.yml), checked
the way a Cloud Foundry operator meets them, from real Cloud Foundry files
(tests/data/bosh/SOURCE.md says which).

  renderer   tests/tools/bosh_render.rb (ERB as the director evaluates it; Ruby from
             Debian) renders the real iptables-logger job of silk-release for both
             timestamp styles and refuses a bad one with that job's own message: the
             renderer is checked on a job this project did not write.
  mirrored   the properties the netlogd job takes over from iptables-logger (`disable`,
             `logging.format.timestamp`) have iptables-logger's defaults and values.
  render     the netlogd job for its defaults and for property sets that between them set
             every property the spec declares: each rendered netlogd.yaml passes
             `netlogd --check-config` (its /var/vcap paths moved under a temporary root),
             and says what the properties asked (output formats, timestamp style,
             manage_rules, metrics, rate limit, classes and group); bpm.yml asks for exactly
             the capabilities the mode needs; `disable` leaves monit without a process.
  refused    a bad timestamp style, mode, group, or every output off: rendering fails
             naming the property, as a failed `bosh deploy` would.
  ops-file   cf-deployment.yml with cf-deployment's own enable-iptables-logger.yml and
             then use-netlogd.yml (and use-netlogd.yml alone, and twice): the diego-cell
             runs netlogd from the netlog release instead of iptables-logger, iptables
             logging stays on in silk-cni and vxlan-policy-agent, nothing else changes;
             the netlogd job rendered with the manifest's properties passes --check-config.

Needs no privilege and no namespace.
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile

import yaml

import gopatch
from netns import check, fail, log, on_exit, require_tool

require_tool("ruby", "ruby")
SRC = os.environ.get("NETLOG_SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
NETLOGD = os.environ["NETLOGD"]
RENDER = os.path.join(SRC, "tests", "tools", "bosh_render.rb")
JOB = os.path.join(SRC, "bosh", "jobs", "netlogd")
OPS = os.path.join(SRC, "bosh", "operations", "use-netlogd.yml")
DATA = os.path.join(SRC, "tests", "data", "bosh")
IPTABLES_LOGGER = os.path.join(DATA, "silk-release", "jobs", "iptables-logger")
IPTABLES_LINK = {"iptables": {"garden": {"iptables_bin_dir": "/var/vcap/packages/iptables/sbin"}}}

tmp = tempfile.mkdtemp(prefix="netlog-bosh-")
on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
count = 0


def render(job, properties, links=None):
    """(ok, {destination: text} or the error) of the job's templates for these properties."""
    global count
    count += 1
    out = os.path.join(tmp, f"r{count}")
    inp = os.path.join(tmp, f"r{count}.json")
    with open(inp, "w") as f:
        json.dump({"properties": properties, "links": links or {}}, f)
    r = subprocess.run(["ruby", RENDER, job, inp, out], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return False, r.stderr.strip()
    files = {}
    for d, _, names in os.walk(out):
        for n in names:
            p = os.path.join(d, n)
            files[os.path.relpath(p, out)] = open(p).read()
    return True, files


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


# -- renderer, on silk-release's own job --------------------------------------------------
for style in ("rfc3339", "deprecated"):
    ok, files = render(IPTABLES_LOGGER, {"logging": {"format": {"timestamp": style}}}, IPTABLES_LINK)
    check(ok, f"the real iptables-logger job did not render: {files}")
    cfg = json.loads(files["config/iptables-logger.json"])
    check(cfg["log_timestamp_format"] == style and cfg["kernel_log_file"] == "/var/log/kern.log"
          and cfg["metron_address"] == "127.0.0.1:3457" and cfg["host_ip"] == "10.0.16.15",
          f"iptables-logger rendered {cfg}")
    check("/var/vcap/packages/iptables/sbin:$PATH" in files["bin/start"],
          f"iptables-logger's start script lost its link: {files['bin/start']}")
ok, err = render(IPTABLES_LOGGER, {"logging": {"format": {"timestamp": "iso"}}}, IPTABLES_LINK)
check(not ok and "'iso' is not a valid timestamp format" in err,
      f"iptables-logger's own check did not fire: {ok} {err}")
log("renderer: silk-release's iptables-logger job renders for rfc3339 and deprecated, and refuses 'iso' "
    "with its own message")

# -- mirrored properties ------------------------------------------------------------------
ours = load_yaml(os.path.join(JOB, "spec"))["properties"]
theirs = load_yaml(os.path.join(IPTABLES_LOGGER, "spec"))["properties"]
for name in ("disable", "logging.format.timestamp"):
    check(ours[name]["default"] == theirs[name]["default"],
          f"{name}: default {ours[name]['default']!r}, iptables-logger's {theirs[name]['default']!r}")
check(load_yaml(os.path.join(JOB, "spec"))["consumes"] == load_yaml(os.path.join(IPTABLES_LOGGER, "spec"))["consumes"],
      "the netlogd job consumes another iptables link than iptables-logger")
log(f"mirrored: disable, logging.format.timestamp with iptables-logger's defaults; the same iptables link; "
    f"not mirrored: {sorted(set(theirs) - set(ours))} (netlogd reads NFLOG, serves its own metrics)")


# -- render and check-config --------------------------------------------------------------
def nested(dotted):
    out = {}
    for k, v in dotted.items():
        *path, last = k.split(".")
        d = out
        for p in path:
            d = d.setdefault(p, {})
        d[last] = v
    return out


def check_config(files, what):
    """Move the rendered config's /var/vcap paths under a root of its own and run
    netlogd --check-config on it; returns (parsed config, --check-config's stdout)."""
    root = os.path.join(tmp, f"vcap{count}")
    for d in ("jobs/netlogd/config", "sys/log/netlogd", "data/container-metadata"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for dest in ("config/rules.yaml", "config/netlogd.yaml"):
        with open(os.path.join(root, "jobs/netlogd", dest), "w") as f:
            f.write(files[dest].replace("/var/vcap/", root + "/"))
    path = os.path.join(root, "jobs/netlogd/config/netlogd.yaml")
    r = subprocess.run([NETLOGD, "--check-config", "-c", path], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"{what}: netlogd --check-config refused the rendered config: {r.stderr}")
    return load_yaml(path), load_yaml(os.path.join(root, "jobs/netlogd/config/rules.yaml")), r.stdout


SETS = {
    "defaults": {},
    "deprecated timestamp": {"logging.format.timestamp": "deprecated"},
    "disabled": {"disable": True},
    "replace + syslog": {"netlogd.manage_rules.mode": "replace", "netlogd.manage_rules.backend": "legacy",
                         "netlogd.syslog.address": "udp://127.0.0.1:5514"},
    "rules off, json only": {"netlogd.manage_rules.mode": "off", "netlogd.iptables_logger.enabled": False,
                             "netlogd.json.file": "/var/vcap/sys/log/netlogd/events.log",
                             "netlogd.json.extras": ["class", "prefix", "host"]},
    "iptables-logger only": {"netlogd.json.enabled": False,
                             "netlogd.iptables_logger.file": "/var/vcap/sys/log/netlogd/compat.log"},
    "tuned": {"netlogd.metrics_port": 0, "netlogd.rate_limit": {"rate": 100, "burst": 200},
              "netlogd.nflog_group": 7, "netlogd.metadata_store": "/var/vcap/data/container-metadata/other.json",
              "netlogd.classes": [{"name": "asg-denied", "log_prefix": "^DENY_", "direction": "egress",
                                   "verdict": "denied"}],
              "netlogd.connections": {"outcomes": True, "flow_end": True, "max_tracked": 1000}},
}
set_somewhere = set()
for what, props in SETS.items():
    set_somewhere |= set(props)
    eff = {k: v["default"] for k, v in ours.items() if "default" in v}
    eff.update(props)
    ok, files = render(JOB, nested(props), IPTABLES_LINK)
    check(ok, f"{what}: the netlogd job did not render: {files}")
    monit = files["monit"]
    check(("check process netlogd" in monit) != eff["disable"], f"{what}: monit {monit!r}")
    bpm = yaml.safe_load(files["config/bpm.yml"])["processes"][0]
    manage = eff["netlogd.manage_rules.mode"] != "off"
    want_caps = ["NET_ADMIN", "NET_RAW"] if manage else ["NET_ADMIN"]
    check(bpm["capabilities"] == want_caps, f"{what}: bpm capabilities {bpm['capabilities']}, want {want_caps}")
    lock = [v["path"] for v in bpm.get("unsafe", {}).get("unrestricted_volumes", [])]
    check(lock == (["/run/xtables.lock"] if manage else []), f"{what}: bpm unrestricted volumes {lock}")
    check(bpm["env"]["PATH"].startswith("/var/vcap/packages/iptables/sbin:"), f"{what}: bpm env {bpm.get('env')}")
    check([v["path"] for v in bpm["additional_volumes"]] == [os.path.dirname(eff["netlogd.metadata_store"])],
          f"{what}: bpm volumes {bpm['additional_volumes']}")
    cfg, rules, summary = check_config(files, what)
    outs = {o["format"]: o for o in cfg["outputs"]}
    want = set()
    if eff["netlogd.iptables_logger.enabled"]:
        want.add("iptables-logger")
        o = outs.get("iptables-logger", {})
        check(o.get("timestamp") == {"rfc3339": "rfc3339", "deprecated": "epoch"}[eff["logging.format.timestamp"]]
              and o["path"].endswith(os.path.basename(eff["netlogd.iptables_logger.file"])),
              f"{what}: iptables-logger output {o}")
    if eff["netlogd.json.enabled"]:
        want.add("json")
        o = outs.get("json", {})
        check(o.get("extras", []) == eff["netlogd.json.extras"]
              and o["path"].endswith(os.path.basename(eff["netlogd.json.file"])), f"{what}: json output {o}")
    if eff["netlogd.syslog.address"]:
        want.add("klog")
        o = outs.get("klog", {})
        check(o.get("type") == "syslog" and o.get("address") == eff["netlogd.syslog.address"]
              and o.get("facility") == "kern", f"{what}: syslog output {o}")
    check(set(outs) == want, f"{what}: outputs {sorted(outs)}, want {sorted(want)}")
    check(cfg.get("manage_rules", {}).get("mode") == (eff["netlogd.manage_rules.mode"] if manage else None)
          and (not manage or cfg["manage_rules"]["backend"] == eff["netlogd.manage_rules.backend"]),
          f"{what}: manage_rules {cfg.get('manage_rules')}")
    port = eff["netlogd.metrics_port"]
    check(cfg.get("metrics") == ({"listen": f"127.0.0.1:{port}"} if port else None), f"{what}: metrics {cfg.get('metrics')}")
    check(cfg.get("rate_limit") == props.get("netlogd.rate_limit"), f"{what}: rate_limit {cfg.get('rate_limit')}")
    check(cfg.get("connections") == props.get("netlogd.connections"), f"{what}: connections {cfg.get('connections')}")
    check(("connections followed through conntrack" in summary) == bool(props.get("netlogd.connections")),
          f"{what}: --check-config on connections: {summary}")
    check(cfg["host"] == {"ip": "10.0.16.15", "guid": "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"}, f"{what}: host {cfg['host']}")
    check(cfg["metadata"]["store"].endswith(os.path.basename(eff["netlogd.metadata_store"])), f"{what}: metadata {cfg['metadata']}")
    check(rules["nflog"]["group"] == eff["netlogd.nflog_group"] and rules["classes"] == eff["netlogd.classes"],
          f"{what}: rules {rules}")
    check(f"NFLOG group(s) {eff['netlogd.nflog_group']}" in summary
          and all(c["name"] in summary for c in eff["netlogd.classes"]),
          f"{what}: --check-config says {summary}")
    log(f"render {what}: check-config OK; outputs {sorted(outs)}, bpm {bpm['capabilities']}")
unset = set(ours) - set_somewhere
check(not unset, f"no property set exercises {sorted(unset)}")

# -- refused ------------------------------------------------------------------------------
for what, props, needle in [
    ("timestamp", {"logging.format.timestamp": "iso"}, "logging.format.timestamp"),
    ("mode", {"netlogd.manage_rules.mode": "sideways"}, "netlogd.manage_rules.mode"),
    ("backend", {"netlogd.manage_rules.backend": "iptables"}, "netlogd.manage_rules.backend"),
    ("group", {"netlogd.nflog_group": 0}, "netlogd.nflog_group"),
    ("outputs", {"netlogd.iptables_logger.enabled": False, "netlogd.json.enabled": False}, "every output is off"),
]:
    ok, err = render(JOB, nested(props))
    check(not ok and needle in err, f"refused {what}: rendered anyway or unclear ({ok}): {err}")
    log(f"refused {what}: {err}")

# -- ops-file on cf-deployment ------------------------------------------------------------
manifest = load_yaml(os.path.join(DATA, "cf-deployment", "cf-deployment.yml"))
enable = load_yaml(os.path.join(DATA, "cf-deployment", "operations", "experimental", "enable-iptables-logger.yml"))
ours_ops = load_yaml(OPS)


def cell(m):
    return next(g for g in m["instance_groups"] if g["name"] == "diego-cell")


with_logger = gopatch.apply(manifest, enable)
check(any(j["name"] == "iptables-logger" for j in cell(with_logger)["jobs"]),
      "cf-deployment's enable-iptables-logger.yml did not add iptables-logger")
for what, base in (("after enable-iptables-logger.yml", with_logger), ("on cf-deployment.yml alone", manifest)):
    m = gopatch.apply(base, ours_ops)
    again = gopatch.apply(m, ours_ops)
    check(again == m, f"{what}: use-netlogd.yml applied twice changes the manifest")
    jobs = {j["name"]: j for j in cell(m)["jobs"]}
    check("iptables-logger" not in jobs and jobs.get("netlogd", {}).get("release") == "netlog",
          f"{what}: diego-cell jobs {sorted(jobs)}")
    check(jobs["silk-cni"]["properties"]["iptables_logging"] is True
          and jobs["vxlan-policy-agent"]["properties"]["iptables_logging"] is True,
          f"{what}: iptables logging not on in silk-cni / vxlan-policy-agent")
    check(any(r["name"] == "netlog" for r in m["releases"]), f"{what}: no netlog release")
    # nothing else changed: the manifest with netlogd and the release taken out again, and
    # the logging switches as the base had them
    strip = copy.deepcopy(m)
    strip["releases"] = [r for r in strip["releases"] if r["name"] != "netlog"]
    cell(strip)["jobs"] = [j for j in cell(strip)["jobs"] if j["name"] != "netlogd"]
    ref = gopatch.apply(base, enable[:2])  # logging switches on, as ours does
    cell(ref)["jobs"] = [j for j in cell(ref)["jobs"] if j["name"] != "iptables-logger"]
    check(strip == ref, f"{what}: use-netlogd.yml changed more than the logging jobs")
    ok, files = render(JOB, jobs["netlogd"].get("properties", {}), IPTABLES_LINK)
    check(ok, f"{what}: the netlogd job did not render with the manifest's properties: {files}")
    check_config(files, what)
    log(f"ops-file {what}: diego-cell runs netlogd (release netlog), no iptables-logger, "
        f"iptables_logging on; idempotent; nothing else changed; check-config OK")
