#!/usr/bin/env python3
"""An output file cannot be turned against the host. netlogd (root) writes its output in a
directory the user nobody owns (as a job's log directory belongs to its user on a CF
cell). As nobody, the test renames the file away and puts a symbolic link to a root-owned
file in its place: netlogd notices the "rotation", refuses the link with one line, drops
and counts its lines, and the root-owned file is untouched. When nobody replaces the link
with a FIFO, the same. Once the file is back at its path, netlogd writes to it again; the
output's lines + dropped equal the events emitted."""
import os
import subprocess

from daemon_world import Cell
from fault_lib import send
from netns import check, log, require_root, wait_for

require_root("test_output_symlink")

w = Cell()
w.log_and_drop()
os.chmod(w.dir, 0o755)
jobdir = w.path("job")
os.mkdir(jobdir)
os.chown(jobdir, 65534, 65534)  # nobody's
out = os.path.join(jobdir, "netlog.log")
target = w.path("root-owned.conf")
with open(target, "w") as f:
    f.write("root's file\n")
os.chmod(target, 0o644)
w.write_config([f"{{type: file, path: {out}}}"])
proc = w.start()


def count(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def as_nobody(code):
    subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "/usr/bin/python3", "-c", code], check=True, cwd="/")


send(w, 10)
wait_for(lambda: count(out) == 10, timeout=30, what="10 lines")
tmp = os.path.join(jobdir, "tmp")
for phase, (what, make) in enumerate(
        (("a symbolic link to a root-owned file", f"os.symlink({target!r}, {tmp!r})"),
         ("a FIFO", f"os.mkfifo({tmp!r})")), start=1):
    mark = len(w.stderr())
    # rename the file away (if it is ours), then put the new thing in place in one rename
    as_nobody(f"import os\n{make}\n"
              f"if os.path.isfile({out!r}) and not os.path.islink({out!r}): "
              f"os.rename({out!r}, {out + '.1'!r})\n"
              f"os.rename({tmp!r}, {out!r})\n")
    wait_for(lambda: "cannot reopen" in w.stderr()[mark:], timeout=30,
             what=f"netlogd to refuse {what}")
    line = [l for l in w.stderr()[mark:].splitlines() if "cannot reopen" in l][0]
    send(w, 10)
    wait_for(lambda: w.cell.run(["cat", "/proc/net/netfilter/nfnetlink_log"]).stdout and
             w.rule_packets("FORWARD") >= 10 + 10 * (2 if "FIFO" in what else 1), timeout=10,
             what="the kernel to log 10 more")
    # netlogd must have dealt with this phase's 10 lines (dropped and counted: nothing can
    # be opened at the path) before the next phase changes the path; otherwise, on a loaded
    # machine, they are still queued when the file comes back and land in it
    wait_for(lambda: w.live_counters()["sink_dropped"] >= 10 * phase, timeout=30,
             what=f"netlogd to drop and count the 10 lines it could not write to {what}")
    log(f"ok: {what}: {line}")
    check(open(target).read() == "root's file\n", f"the root-owned file was written to: "
          f"{open(target).read()[:200]!r}")
    check(w.stderr()[mark:].count("cannot reopen") == 1, f"said more than once: {w.stderr()[mark:]}")

# the file comes back (nobody renames it back over the FIFO): netlogd writes to it again
as_nobody(f"import os\nos.rename({out + '.1'!r}, {out!r})\n")
wait_for(lambda: "reopened" in w.stderr(), timeout=30, what="netlogd to reopen the file")
send(w, 10)
wait_for(lambda: count(out) == 20, timeout=30, what="the next 10 lines in the file")
check(w.stop() == 0, "netlogd did not exit 0")
c = w.counters()
matched = w.rule_packets("FORWARD")
log(f"rule counter {matched}; counters {c}")
check(open(target).read() == "root's file\n", "the root-owned file was written to")
check(c["emitted"] == matched == 40 and c["sink_dropped"] == 20 and
      count(out) == 20, f"account: {c}; {count(out)} lines")
log(f"PASS: a link to a root-owned file and a FIFO put in place of the output by nobody: "
    f"refused (one line each), 20 lines dropped and counted, the root-owned file untouched")
