#!/bin/sh
# Records the kernel's ctnetlink events for the unit tests (run as root; needs conntrack,
# python3, nc): two namespaces, cli -> srv, with
#   tcp :80  nothing listens (RST: refused)
#   tcp :81  srv drops the SYN (unanswered: SYN_SENT until its 3 s timeout)
#   tcp :82  srv rejects with icmp-port-unreachable
#   tcp :84  a server answers "hello" (established, FIN both ways, TIME_WAIT 2 s)
#   udp :9999 nothing listens
# then `conntrack -L` reaps the expired entries (their DESTROY events). Writes events.bin
# (capture.py's format) and events.txt (`conntrack -E -o timestamp,extended,id` of the same
# events: the unit tests' expected values).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
C=ctcap_c$$ S=ctcap_s$$
ip netns add $C; ip netns add $S
trap 'ip netns del $C; ip netns del $S' EXIT
ip link add vc$$ netns $C type veth peer name vs$$ netns $S
ip -n $C addr add 10.77.0.1/24 dev vc$$; ip -n $S addr add 10.77.0.2/24 dev vs$$
for n in $C $S; do ip -n $n link set lo up; done
ip -n $C link set vc$$ up; ip -n $S link set vs$$ up
ip netns exec $C sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_syn_sent=3 \
    net.netfilter.nf_conntrack_udp_timeout=3 net.netfilter.nf_conntrack_acct=1 \
    net.netfilter.nf_conntrack_tcp_timeout_time_wait=2 net.netfilter.nf_conntrack_timestamp=1
ip netns exec $C iptables -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
ip netns exec $S iptables -A INPUT -p tcp --dport 81 -j DROP
ip netns exec $S iptables -A INPUT -p tcp --dport 82 -j REJECT --reject-with icmp-port-unreachable
ip netns exec $C timeout 12 conntrack -E -o timestamp,extended,id > "$here/events.txt" 2>/dev/null &
ip netns exec $C python3 "$here/capture.py" "$here/events.bin" 11 &
sleep 1
ip netns exec $S sh -c 'echo hello | timeout 5 nc -l -p 84 -q0 >/dev/null' &
sleep 0.5
ip netns exec $C timeout 2 sh -c 'echo x | nc -q0 10.77.0.2 80' || true
ip netns exec $C timeout 1 sh -c 'echo x | nc -q0 10.77.0.2 81' || true
ip netns exec $C timeout 2 sh -c 'echo x | nc -q0 10.77.0.2 82' || true
ip netns exec $C sh -c 'echo hi | nc -q1 10.77.0.2 84' >/dev/null
ip netns exec $C sh -c 'echo u | nc -u -w1 10.77.0.2 9999' || true
sleep 5
ip netns exec $C conntrack -L >/dev/null 2>&1
wait
