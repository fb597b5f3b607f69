"""The syslog sink against a real rsyslog (Debian's), over UDP, TCP and a unix socket.

rsyslog runs in a namespace of the test's own (its ports are private to it) with a config
of the test's own, writing what it receives to a file. Checks: every message arrives once
with the right facility, app-name and text, for RFC 5424 and RFC 3164; while rsyslog is
stopped, messages wait in the bounded buffer, the ones beyond it are dropped and counted,
and after the restart sent + dropped = pushed and rsyslog has exactly the ones sent.
"""
import os
import re
import subprocess
import tempfile
import time

import netns
from netns import check, fail, log

netns.require_root("the rsyslog test")
netns.require_tool("rsyslogd", "rsyslog")

tmp = tempfile.mkdtemp(prefix="netlog-syslog-")
netns.on_exit(lambda: subprocess.run(["rm", "-rf", tmp]))
ns = netns.Netns("sy")
out = os.path.join(tmp, "received.log")
sock = os.path.join(tmp, "log.sock")
conf = os.path.join(tmp, "rsyslog.conf")
with open(conf, "w") as f:
    f.write(f"""
global(workDirectory="{tmp}")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="5514")
input(type="imtcp" address="127.0.0.1" port="5514")
input(type="imuxsock" Socket="{sock}" CreatePath="on")
input(type="imuxsock" Socket="{sock}5424" CreatePath="on" UseSpecialParser="off" ParseHostname="on")
template(name="t" type="string" string="%syslogfacility%|%syslogseverity%|%app-name%|%procid%|%msg%\\n")
*.* action(type="omfile" file="{out}" template="t")
""")

rsyslog = None


def start_rsyslog():
    global rsyslog
    pidfile = os.path.join(tmp, "rsyslogd.pid")
    rsyslog = ns.popen(["rsyslogd", "-n", "-f", conf, "-i", pidfile])
    netns.wait_for(lambda: os.path.exists(sock) and
                   "5514" in ns.run("ss -ltn", check=False).stdout, 30, what="rsyslog to listen")


def stop_rsyslog():
    rsyslog.terminate()
    rsyslog.wait(timeout=10)
    for p in (sock, sock + "5424"):
        if os.path.exists(p):
            os.unlink(p)


def received():
    if not os.path.exists(out):
        return []
    with open(out) as f:
        return [l.rstrip("\n").split("|", 4) for l in f if l.strip()]


class Driver:
    def __init__(self, address, *args):
        self.p = ns.popen([os.environ["SYSLOG_SEND"], address, *args], stdin=subprocess.PIPE,
                          text=True)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def stats(self):
        self.cmd("stats")
        line = self.p.stdout.readline()
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)

    def pump_until(self, pred, what, timeout=30):
        """Pump in steps of 100 ms until pred(stats) holds (bounded): however slow the
        machine, the sink gets the time it needs, and no more."""
        end = time.monotonic() + timeout
        while True:
            self.cmd("pump 100")
            st = self.stats()
            if pred(st):
                return st
            if time.monotonic() > end:
                fail(f"{what}: not after {timeout} s of pumping: {st}")


def wait_received(n, what):
    netns.wait_for(lambda: len(received()) >= n, 30, what=f"{n} lines in rsyslog ({what})")
    time.sleep(0.2)
    return received()


start_rsyslog()
expected = 0
# 1. each transport, each protocol: every message arrives once, with facility and app-name
for address, args in (("udp://127.0.0.1:5514", []),
                      ("tcp://127.0.0.1:5514", []),
                      (f"unix://{sock}", ["--rfc3164"]),
                      (f"unix://{sock}5424", []),
                      ("tcp://127.0.0.1:5514", ["--rfc3164"]),
                      ("udp://127.0.0.1:5514", ["--facility", "0", "--app", "kernel"])):
    before = len(received())
    d = Driver(address, *args)
    d.cmd("send 50")
    d.cmd("pump 30000 drain")
    st = d.stats()
    d.close()
    check(st["sent"] == 50 and st["dropped"] == 0, f"{address} {args}: {st}")
    lines = wait_received(before + 50, f"{address} {args}")[before:]
    check(len(lines) == 50, f"{address} {args}: rsyslog has {len(lines)} lines, want 50")
    facility = "0" if "--facility" in args else "1"
    app = "kernel" if "--app" in args else "netlogd"
    for i, l in enumerate(lines):
        check(l[0] == facility and l[1] == "6" and l[2] == app and l[3].isdigit(),
              f"{address}: header {l}")
        check(l[4].strip() == f"msg-{i}", f"{address} {args}: line {i} is {l[4]!r}")
    log(f"ok: {address} {' '.join(args)}: 50/50 received")

# 2. rsyslog away: a bounded buffer, counted drops, delivery after it comes back (TCP)
before = len(received())
d = Driver("tcp://127.0.0.1:5514", "--buffer", "4000")
d.cmd("send 20")
d.cmd("pump 30000 drain")
check(d.stats()["sent"] == 20, "first 20 sent")
wait_received(before + 20, "before the outage")
stop_rsyslog()
d.pump_until(lambda st: st["connected"] == 0, "the sink to notice rsyslog stopping")
d.cmd("send 200")              # ~80 bytes each: the 4000-byte buffer holds about 45
st = d.stats()
check(st["dropped"] > 0, f"messages beyond the buffer are counted: {st}")
start_rsyslog()
d.cmd("pump 30000 drain")  # (ends once reconnected and the buffer is empty)
st = d.stats()
d.close()
check(st["connected"] == 1 and st["reconnects"] >= 1, f"reconnected: {st}")
check(st["sent"] + st["dropped"] == 220, f"sent + dropped = pushed (220): {st}")
lines = wait_received(before + st["sent"], "after the outage")[before:]
msgs = [l[4].strip() for l in lines]
check(len(msgs) == st["sent"], f"rsyslog has {len(msgs)} lines, sink says it sent {st['sent']}")
check(msgs[:20] == [f"msg-{i}" for i in range(20)], "the first 20 in order")
nums = [int(m.split("-")[1]) for m in msgs[20:]]
check(nums == sorted(nums) and len(set(nums)) == len(nums), "buffered messages in order, once each")
check(nums and nums[0] == 20, f"the buffer keeps the oldest messages (first after outage: {nums[:1]})")
log(f"ok: outage: sent {st['sent']}, dropped and counted {st['dropped']}, "
    f"reconnects {st['reconnects']}")
stop_rsyslog()
print("syslog sink vs rsyslog: all checks passed")
