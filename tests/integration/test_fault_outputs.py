#!/usr/bin/env python3
"""Outputs that are not there:
  1. the output's directory is removed while events flow (the lines meanwhile cannot be
     written: dropped and counted, one error line a second at most), then recreated: netlogd
     creates the file again by itself and writing resumes; lines + dropped = events, exactly.
     (The file alone deleted while running is test_daemon_reload's case.)
  2. the syslog server (a real rsyslog, TCP and unix socket) is absent when netlogd starts:
     netlogd starts anyway, holds what fits its 4 KiB buffer, counts the rest, and delivers
     once rsyslog is there; rsyslog's lines + dropped = events, exactly. (rsyslog going away
     while running is test_daemon_rsyslog's case.)"""
import json
import os
import shutil
import time

import netns
from daemon_world import C1_IP, GROUP, OUT_IP, Cell, read_lines
from fault_lib import json_lines, send
from netns import check, fail, log, require_root, wait_for

require_root("test_fault_outputs")
netns.require_tool("rsyslogd", "rsyslog")

w = Cell()
w.write_store()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -d {OUT_IP} -p udp -j NFLOG --nflog-group {GROUP} "
           "--nflog-prefix 'DENY_cb40f81e-52ce-41c5-7a89-f01e'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -d {OUT_IP} -p udp -j DROP")

tmp = w.dir
logdir = w.path("logs")
os.mkdir(logdir)
out = os.path.join(logdir, "netlog.log")
ref = w.path("ref.log")
sock = w.path("log.sock")
files = {k: w.path(f"rs-{k}.log") for k in ("tcp", "unix")}
conf = w.path("rsyslog.conf")
with open(conf, "w") as f:
    f.write(f"""
global(workDirectory="{tmp}" maxMessageSize="64k")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="t" type="string" string="%msg%\\n")
ruleset(name="tcp") {{ action(type="omfile" file="{files['tcp']}" template="t") }}
ruleset(name="unix") {{ action(type="omfile" file="{files['unix']}" template="t") }}
input(type="imtcp" address="127.0.0.1" port="5514" ruleset="tcp")
input(type="imuxsock" Socket="{sock}" CreatePath="on" ruleset="unix")
""")
w.write_config([
    f"{{type: file, path: {ref}}}",
    f"{{type: file, path: {out}}}",
    "{type: syslog, address: \"tcp://127.0.0.1:5514\", buffer: 4096}",
    f"{{type: syslog, address: \"unix://{sock}\", protocol: rfc3164, buffer: 4096}}",
])
OUT, TCP, UNIX = 1, 2, 3
rsyslog = None
netns.on_exit(lambda: rsyslog and rsyslog.poll() is None and rsyslog.kill())

# rsyslog is not running: netlogd starts anyway
proc = w.start()
log("ok: netlogd starts with no syslog server: " + w.stderr().strip().splitlines()[-1][:150])

# 1. the directory of the file output goes away while events flow, then comes back
send(w, 20)
wait_for(lambda: len(read_lines(out)) == 20, timeout=30, what="20 lines in the file output")
shutil.rmtree(logdir)
# the sink's once-a-second check notices the path is gone, says so and closes the file
wait_for(lambda: f"output {out}: cannot reopen: No such file" in w.stderr(), timeout=30,
         what="netlogd to notice the removed directory")
send(w, 40)
wait_for(lambda: len(read_lines(ref)) == 60, timeout=30, what="60 events in the reference")
check(not os.path.exists(logdir), "something re-created the removed directory")
os.mkdir(logdir)
send(w, 20)
wait_for(lambda: len(read_lines(out)) == 20, timeout=30, what="20 lines in the new file")
errs = [l for l in w.stderr().splitlines() if "No such file" in l]
check(1 <= len(errs) <= 4, f"{len(errs)} error lines about the missing directory")
log(f"ok: directory removed: {errs[0]}")
log("ok: directory recreated: netlogd created the file again, 20 new lines")

# 2. rsyslog appears
R = json_lines(ref)
check(len(R) == 80, f"reference has {len(R)} events")
rsyslog = w.cell.popen(["rsyslogd", "-n", "-f", conf, "-i", w.path("rsyslogd.pid")])
wait_for(lambda: os.path.exists(sock) and "5514" in w.cell.run("ss -ltn", check=False).stdout,
         30, what="rsyslog to listen")
# the sinks retry with a back-off (at most 10 s) and deliver what their buffers held
for k in files:
    wait_for(lambda: len(read_lines(files[k])) > 0, timeout=40, what=f"the held events via {k}")
send(w, 10)
wait_for(lambda: len(read_lines(ref)) == 90, timeout=30, what="90 events in the reference")
R = json_lines(ref)
for k in files:
    wait_for(lambda: any(json.loads(l) == R[-1] for l in read_lines(files[k])), timeout=40,
             what=f"the last event via {k} ({len(read_lines(files[k]))} lines; stderr "
                  f"{w.stderr()[-600:]!r})")
time.sleep(0.5)
check(w.stop() == 0, "netlogd did not exit 0")
rsyslog.terminate()
rsyslog.wait(timeout=10)
c = w.counters()
log(f"counters {c}")
matched = w.rule_packets("FORWARD")
check(c["received"] == c["emitted"] == len(R) == matched == 90,
      f"rule counter {matched}, reference {len(R)}, counters {c}")
check(c["out0_dropped"] == 0, f"the reference output dropped lines: {c}")
got_out = json_lines(out)
check(got_out == R[60:], "the recreated file does not hold exactly the events after the directory came back")
check(c[f"out{OUT}_lines"] == 50 and c[f"out{OUT}_dropped"] == 40,
      f"file output: {c[f'out{OUT}_lines']} lines (want 20 before + 30 after), "
      f"{c[f'out{OUT}_dropped']} dropped (want the 40 sent while the directory was gone)")
log(f"ok: file output: 50 lines + 40 dropped and counted = 90 events")
for k, i in (("tcp", TCP), ("unix", UNIX)):
    got = [json.loads(l) for l in read_lines(files[k])]
    pos = {json.dumps(e, sort_keys=True): n for n, e in enumerate(R)}
    idx = [pos.get(json.dumps(e, sort_keys=True), -1) for e in got]
    check(-1 not in idx and idx == sorted(idx) and len(set(idx)) == len(idx),
          f"{k}: events not a subsequence of the reference (out of order, doubled or unknown)")
    check(len(got) + c[f"out{i}_dropped"] == len(R),
          f"{k}: rsyslog has {len(got)} + dropped {c[f'out{i}_dropped']} != {len(R)}")
    check(idx[-10:] == list(range(80, 90)), f"{k}: the events sent after rsyslog came up are not all there")
    check(c[f"out{i}_dropped"] > 0, f"{k}: nothing dropped though 80 events waited on a 4 KiB buffer")
    log(f"ok: syslog {k} absent at start: {len(got)} events delivered (the held oldest + all new) "
        f"+ {c[f'out{i}_dropped']} dropped and counted = {len(R)}")
log("PASS")
