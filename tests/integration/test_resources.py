#!/usr/bin/env python3
"""Log resources on the real kernel: outputs that take only some events (`match`), and the
rule identity on every event (a class's constant `fields` and its prefix's named groups,
json extra `rule`).

A cell's FORWARD chain has one NFLOG rule per class of a rules file written here, each
followed by the verdict its class says (ACCEPT or DROP), the way security-group and
firewall rules log: two firewalls' egress rules (fw1 allow and drop, fw2 allow) and a
security group's ingress rules (allow and drop). Each class gets its own number of UDP
packets, each from its own source port, so every event can be told apart.

Each class has constant fields (its firewall or security group, its tenant) and a named
group that captures the rule id the test put in its NFLOG rule's prefix.

Outputs: denied only; the class fw1-allow only; ingress only. No output takes fw2-allow:
its events are counted as filtered.

Expected, from the traffic this test sends and the kernel's rule counters (never from
netlogd): each output holds exactly the (class, source port) pairs of the packets its
match selects, each once, and each event's data.rule is its class's name, the constants
written into the rules file and the rule id installed in its NFLOG rule's prefix (the
prefix as the kernel delivered it, extra `prefix`, says so too); every NFLOG rule's counter equals the packets sent through it;
netlogd's filtered count equals fw2-allow's rule counter; and the identity holds:
kernel rule counters = emitted + filtered (+ losses, which must be 0 here).
"""
import json
import os
import signal

from daemon_world import C1_IP, C2_IP, GROUP, OUT_IP, Cell, read_lines
import netns
from netns import check, fail, log, require_root, wait_for

require_root("test_resources")

# name: (prefix, direction, verdict, packets, sender, destination, target)
CLASSES = {
    "fw1-allow": ("FWA_1_", "egress", "allowed", 3, C1_IP, OUT_IP, "ACCEPT"),
    "fw1-drop": ("FWD_1_", "egress", "denied", 4, C1_IP, OUT_IP, "DROP"),
    "fw2-allow": ("FWA_2_", "egress", "allowed", 5, C2_IP, OUT_IP, "ACCEPT"),
    "sg-ingress-allow": ("SGA_", "ingress", "allowed", 2, OUT_IP, C2_IP, "ACCEPT"),
    "sg-ingress-drop": ("SGD_", "ingress", "denied", 6, OUT_IP, C1_IP, "DROP"),
}
# name: its constant fields, in the order the rules file gives them
FIELDS = {
    "fw1-allow": {"firewall_id": "fw-1", "tenant_id": "tenant-a"},
    "fw1-drop": {"firewall_id": "fw-1", "tenant_id": "tenant-a"},
    "fw2-allow": {"firewall_id": "fw-2", "tenant_id": "tenant-b"},
    "sg-ingress-allow": {"security_group_id": "sg-web", "tenant_id": "tenant-a"},
    "sg-ingress-drop": {"security_group_id": "sg-web", "tenant_id": "tenant-a"},
}
DPORT = {name: 7000 + i for i, name in enumerate(CLASSES)}
# a rule id in the prefix, per class: the part a named group captures
RULE_ID = {name: f"{0x1a2b3c00 + i:08x}" for i, name in enumerate(CLASSES)}

w = Cell()
rules_path = w.path("rules.yaml")
with open(rules_path, "w") as f:
    f.write("nflog: {group: %d}\nclasses:\n" % GROUP)
    for name, (prefix, direction, verdict, *_rest) in CLASSES.items():
        fields = ", ".join(f"{k}: {v}" for k, v in FIELDS[name].items())
        f.write(f"  - {{name: {name}, log_prefix: '^{prefix}(?P<rule_id>[0-9a-f]{{8}})_', "
                f"direction: {direction}, verdict: {verdict}, fields: {{{fields}}}}}\n")

OUTPUTS = {  # file: (match, the classes it takes)
    "denied.log": ("{verdict: denied}", {"fw1-drop", "sg-ingress-drop"}),
    "fw1-allow.log": ("{classes: [fw1-allow]}", {"fw1-allow"}),
    "ingress.log": ("{direction: ingress}", {"sg-ingress-allow", "sg-ingress-drop"}),
}
# One file per resource: the denied events, filed by fields of their class. Every value of
# the files' names comes from the rules file above (FIELDS, RULE_ID), never from netlogd.
DENIED = ["fw1-drop", "sg-ingress-drop"]
os.mkdir(w.path("res"))
ROUTED = {  # template: (max_files, fallback file or None (the default), {file: classes})
    # a constant and a named group: each denied class its own file
    "res/by-rule-{tenant_id}-{rule_id}.log": (64, None, {
        f"res/by-rule-{FIELDS[n]['tenant_id']}-{RULE_ID[n]}.log": {n} for n in DENIED}),
    # sg-ingress-drop has no firewall_id: its events go to the default fallback
    "res/fw-{firewall_id}.log": (64, None, {
        "res/fw-fw-1.log": {"fw1-drop"}, "res/fw-fw-1.log.1": {"fw1-drop"},
        "res/fw-_other.log": {"sg-ingress-drop"}}),
}
routed_outputs = [
    f"{{type: file, path: '{w.path(t)}', format: json, extras: [class, prefix, rule], "
    f"match: {{verdict: denied}}, max_files: {mx}}}" for t, (mx, _fb, _f) in ROUTED.items()]
# at most one file: whichever denied class comes first gets it, the other the fallback
routed_outputs.append(f"{{type: file, path: '{w.path('res/one-{rule_id}.log')}', format: json, "
                      f"extras: [class], match: {{verdict: denied}}, max_files: 1, "
                      f"fallback: {w.path('res/one-rest.log')}}}")
METRICS = "127.0.0.1:7561"  # the cell's own loopback
w.write_config([f"{{type: file, path: {w.path(f)}, format: json, extras: [class, prefix, rule], "
                f"match: {m}}}" for f, (m, _) in OUTPUTS.items()] + routed_outputs,
               rules=rules_path, extra=f"metrics: {{listen: \"{METRICS}\"}}\n")

for name, (prefix, _d, _v, _n, src, dst, target) in CLASSES.items():
    spec = f"-s {src} -d {dst} -p udp --dport {DPORT[name]}"
    w.cell.run(f"iptables -A FORWARD {spec} -j NFLOG --nflog-group {GROUP} "
               f"--nflog-prefix '{prefix}{RULE_ID[name]}_'")
    w.cell.run(f"iptables -A FORWARD {spec} -j {target}")

w.start()
ns_of = {C1_IP: w.c["c1"], C2_IP: w.c["c2"], OUT_IP: w.out}
sent = {name: [] for name in CLASSES}  # class -> source ports
next_port = [42000]


def send(name, n):
    """n UDP packets through class `name`'s rules, each from its own source port."""
    _p, _d, _v, _n, src, dst, _t = CLASSES[name]
    ports = list(range(next_port[0], next_port[0] + n))
    next_port[0] += n
    sent[name] += ports
    code = ("import socket\n"
            f"for p in {ports}:\n"
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"    s.bind(('{src}', p)); s.sendto(b'netlog', ('{dst}', {DPORT[name]})); s.close()\n")
    ns_of[src].run(["/usr/bin/python3", "-c", code])
    return ports


for name, (_p, _d, _v, n, *_rest) in CLASSES.items():
    send(name, n)


def rule_counter(name):
    """The kernel's packet counter of the NFLOG rule of class `name`."""
    out = w.cell.run("iptables -L FORWARD -v -x -n").stdout
    for line in out.splitlines()[2:]:
        cols = line.split()
        if len(cols) > 2 and cols[2] == "NFLOG" and f"dpt:{DPORT[name]}" in line:
            return int(cols[0])
    fail(f"no NFLOG rule for {name} in:\n{out}")


# A per-resource file is rotated like any other output: renamed away, SIGHUP, and the
# events after it go to a new file of that name.
w.wait_settled(w.rule_packets("FORWARD"))
os.rename(w.path("res/fw-fw-1.log"), w.path("res/fw-fw-1.log.1"))
w.proc.send_signal(signal.SIGHUP)
wait_for(lambda: os.path.exists(w.path("res/fw-fw-1.log")), timeout=30,
         what="netlogd to reopen res/fw-fw-1.log after SIGHUP")
before_rotation = list(sent["fw1-drop"])
after_rotation = send("fw1-drop", 2)

counted = {name: rule_counter(name) for name in CLASSES}
for name, ports in sent.items():
    check(counted[name] == len(ports),
          f"{name}: the rule counted {counted[name]} packets, the test sent {len(ports)}")
kernel_total = w.rule_packets("FORWARD")
check(kernel_total == sum(counted.values()), f"FORWARD NFLOG total {kernel_total} != {counted}")
w.wait_settled(kernel_total)
stats = w.cell.run([netns.binary("netlogd"), "--stats", "-c", w.path("netlogd.yaml")]).stdout
rc = w.stop()
check(rc == 0, f"netlogd exited {rc}")
c = w.counters()

for fname, (match, takes) in OUTPUTS.items():
    got = []
    for line in read_lines(w.path(fname)):
        doc = json.loads(line)
        cls = doc["data"]["class"]
        got.append((cls, doc["data"]["packet"]["src_port"]))
        direction, verdict = CLASSES[cls][1], CLASSES[cls][2]
        check(doc["message"] == f"{direction}-{verdict}", f"{fname}: message of {cls}: {line}")
        installed = f"{CLASSES[cls][0]}{RULE_ID[cls]}_"
        check(doc["data"]["prefix"] == installed, f"{fname}: prefix is not {installed}: {line}")
        want_rule = {"name": cls, **FIELDS[cls], "rule_id": RULE_ID[cls]}
        # the order too: the class, its constants as written, then the named group
        check(list(doc["data"]["rule"].items()) == list(want_rule.items()),
              f"{fname}: data.rule {doc['data']['rule']} != {want_rule}")
        keys = list(doc["data"])
        check(keys[keys.index("packet") + 1] == "rule",
              f"{fname}: data.rule does not follow data.packet: {line}")
    want = sorted((name, p) for name in takes for p in sent[name])
    if sorted(got) != want:
        fail(f"{fname} (match {match}):\n  got  {sorted(got)}\n  want {want}")
    log(f"ok: {fname} (match {match}): exactly its {len(want)} events, each with its rule")

def classes_in(path):
    return sorted((json.loads(l)["data"]["class"], json.loads(l)["data"]["packet"]["src_port"])
                  for l in read_lines(w.path(path)))


def want_of(classes):
    return sorted((n, p) for n in classes for p in sent[n])


for template, (_mx, _fb, files) in ROUTED.items():
    # (the fallback is opened at start: empty when no event needed it)
    made = sorted(os.path.join("res", f) for f in os.listdir(w.path("res"))
                  if f.startswith(template[4:template.index("{")])
                  and os.path.getsize(w.path(os.path.join("res", f))) > 0)
    check(made == sorted(files), f"{template}: files {made}, want {sorted(files)}")
    for path, takes in files.items():
        got = classes_in(path)
        want = want_of(takes)
        if path.startswith("res/fw-fw-1.log"):  # the rotated file and the new one
            ports = after_rotation if path == "res/fw-fw-1.log" else before_rotation
            want = sorted(("fw1-drop", p) for p in ports)
        check(got == want, f"{path}: got {got}, want {want}")
    log(f"ok: {template}: one file per resource, each with exactly its events: {sorted(files)}")

one = [f for f in os.listdir(w.path("res")) if f.startswith("one-") and f != "one-rest.log"]
check(len(one) == 1, f"max_files 1: files {one}")
first = classes_in(os.path.join("res", one[0]))
rest = classes_in("res/one-rest.log")
check(len({n for n, _ in first}) == 1, f"{one[0]} holds more than one class: {first}")
cls_first = first[0][0]
check(one[0] == f"one-{RULE_ID[cls_first]}.log" and first == want_of([cls_first]),
      f"{one[0]}: {first}")
other = [n for n in DENIED if n != cls_first]
check(rest == want_of(other), f"one-rest.log: got {rest}, want {want_of(other)}")
# --stats: the fallback lines of each routed output, from /metrics
fb = {}
for line in stats.splitlines():
    if line.startswith("output ") and "files open" in line:
        name, rest_ = line[len("output "):].split(": ", 1)
        fb[os.path.relpath(name, w.path(""))] = tuple(int(rest_.split()[i]) for i in (0, 3))
want_fb = {"res/by-rule-{tenant_id}-{rule_id}.log": (2, 0),
           "res/fw-{firewall_id}.log": (1, len(sent["sg-ingress-drop"])),
           "res/one-{rule_id}.log": (1, len(rest))}
check(fb == want_fb, f"--stats files/fallback {fb} != {want_fb}:\n{stats}")
log(f"ok: max_files 1: {one[0]} holds {cls_first}, the other class went to the fallback; "
    f"--stats counts files and fallback lines: {fb}")

filtered_want = counted["fw2-allow"]
check(c["filtered"] == filtered_want,
      f"filtered {c['filtered']} != the fw2-allow rule's counter {filtered_want}: {c}")
losses = (c["lost_enobufs"] + c["lost_gap"] + c["queue_dropped"] + c["decode_errors"]
          + c["unclassified_dropped"])
check(losses == 0 and c["sink_dropped"] == 0, f"unexpected losses: {c}")
check(kernel_total == c["emitted"] + c["filtered"] + losses,
      f"identity: kernel {kernel_total} != emitted {c['emitted']} + filtered {c['filtered']} "
      f"+ losses {losses}")
log(f"PASS: each output holds exactly what its match selects; {c['filtered']} events no "
    f"output takes counted as filtered; kernel {kernel_total} = emitted {c['emitted']} + "
    f"filtered {c['filtered']}")
