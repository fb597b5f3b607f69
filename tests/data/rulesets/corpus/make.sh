#!/usr/bin/env bash
# Make the rulesets of tests/data/rulesets/corpus/ with the real tools, each in a network
# namespace of its own (and ufw in a private mount namespace too), and dump them with
# iptables-save / ip6tables-save / nft list ruleset. Run as root on Debian 12 with the
# packages iptables, nftables and ufw installed:  tests/data/rulesets/corpus/make.sh
# The host's firewall and the host's ufw state are never touched. See README.md here.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
ns=nlcorpus$$
cleanup() { ip netns delete "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fresh() { ip netns delete "$ns" 2>/dev/null || true; ip netns add "$ns"; ip -n "$ns" link set lo up; }
in_ns() { ip netns exec "$ns" "$@"; }
# iptables-save without its dated comment lines
save() { in_ns "$1" | grep -v '^#'; }

# ---- ufw (Debian package 0.36.2): its own chains, LOG rules with -m limit, -m recent ----
# ufw keeps its state in /etc/ufw, /lib/ufw and /var/lib/ufw: each is a copy in $tmp,
# bind-mounted over the real path in a private mount namespace (a tmpfs over /var/lib
# first, since the host has no /var/lib/ufw to mount over), so the host's are never written.
fresh
mkdir -p "$tmp/etc-ufw" "$tmp/lib-ufw" "$tmp/var-lib-ufw"
cp -a /etc/ufw/. "$tmp/etc-ufw/"
cp -a /lib/ufw/. "$tmp/lib-ufw/"
unshare --mount --propagation private bash -euo pipefail -c "
  mount --bind '$tmp/etc-ufw' /etc/ufw
  mount --bind '$tmp/lib-ufw' /lib/ufw
  mount -t tmpfs none /var/lib && mkdir /var/lib/ufw && mount --bind '$tmp/var-lib-ufw' /var/lib/ufw
  ufw() { ip netns exec '$ns' ufw \"\$@\" >/dev/null; }
  ufw default deny incoming
  ufw logging medium
  ufw allow 22/tcp
  ufw limit 2222/tcp
  ufw deny log 23/tcp
  ufw allow log-all 8080/tcp
  ufw allow proto udp from 10.0.0.0/8 to any port 7202,7203
  ufw --force enable
"
save iptables-save >"$out/ufw.iptables-save"
save ip6tables-save >"$out/ufw.ip6tables-save"

# ---- Docker's published chain shape (filter table as dockerd 24 writes it for one bridge)
# with a user's LOG rule in DOCKER-USER, the place Docker documents for user rules ----
fresh
in_ns sh -e <<'SH'
for c in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do iptables -N $c; done
iptables -A FORWARD -j DOCKER-USER
iptables -A FORWARD -j DOCKER-ISOLATION-STAGE-1
iptables -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A FORWARD -o docker0 -j DOCKER
iptables -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
iptables -A FORWARD -i docker0 -o docker0 -j ACCEPT
iptables -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
iptables -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
iptables -A DOCKER-ISOLATION-STAGE-1 -j RETURN
iptables -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
iptables -A DOCKER-ISOLATION-STAGE-2 -j RETURN
iptables -A DOCKER-USER -i eth0 -p tcp -m multiport --dports 3306,5432 -m conntrack --ctstate NEW -j LOG --log-prefix "DOCKER-USER DROP: " --log-level 4
iptables -A DOCKER-USER -i eth0 -p tcp -m multiport --dports 3306,5432 -j DROP
iptables -A DOCKER-USER -p icmp -m icmp --icmp-type 8 -m limit --limit 5/min -j LOG --log-prefix "DOCKER-USER PING: " --log-level 6 --log-ip-options
iptables -A DOCKER-USER -j RETURN
SH
save iptables-save >"$out/docker.iptables-save"

# ---- Calico's published chain shape (Felix): cali-* chains, every rule commented with its
# hash, a policy's log action (`--log-prefix "calico-packet: " --log-level 5`) ----
fresh
in_ns sh -e <<'SH'
for c in cali-INPUT cali-FORWARD cali-from-wl-dispatch cali-fw-cali1234abcd cali-pri-kns.default cali-po-default.deny-db; do iptables -N $c; done
iptables -A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT
iptables -A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD
iptables -A cali-FORWARD -i cali+ -m comment --comment "cali:vjrMJCRpqwy5oRoX" -j cali-from-wl-dispatch
iptables -A cali-INPUT -p udp -m comment --comment "cali:5yt8GBWAT8Acj4Fv" -m multiport --dports 7202,7203 -j LOG --log-prefix "calico-packet: " --log-level 5
iptables -A cali-INPUT -m comment --comment "cali:msRIDfJRWnYwzW4g" -m mark --mark 0x10000/0x10000 -j ACCEPT
iptables -A cali-from-wl-dispatch -i cali1234abcd -m comment --comment "cali:8lsmc2UmFqXo3kZ4" -g cali-fw-cali1234abcd
iptables -A cali-fw-cali1234abcd -m comment --comment "cali:FmRRNlrg52LdmKiu" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A cali-fw-cali1234abcd -m comment --comment "cali:ZMhRvsJzU1P1ZeJx" -j cali-pri-kns.default
iptables -A cali-pri-kns.default -m comment --comment "cali:Z9G4dv-IBBHp5Sox" -j cali-po-default.deny-db
iptables -A cali-po-default.deny-db -p tcp -m comment --comment "cali:3cZ7bPR7k3YN2U1n" -m multiport --dports 5432,6432 -j LOG --log-prefix "calico-packet: " --log-level 5
iptables -A cali-po-default.deny-db -p tcp -m comment --comment "cali:Hr1nXGAq7YaoXa3h" -m multiport --dports 5432,6432 -j DROP
iptables -A cali-po-default.deny-db -p icmp -m comment --comment "cali:lmVTRn3tKZtFSL0x" -m icmp --icmp-type 8 -j LOG --log-prefix "calico-packet: " --log-level 5
SH
save iptables-save >"$out/calico.iptables-save"

# ---- Cloud Foundry ASG and policy rules with ICMP types (facts §1: the prefixes, chains
# and matches; an ASG allowing ICMP echo and a deny log on ICMP, as silk-release writes) ----
fresh
in_ns sh -e <<'SH'
iptables -N netout--d538d169-f2f6-4587-7
iptables -N netout--d538d169-f2f6-4--log
iptables -N asg-d538d169f2f645877b1
iptables -N vpa--1700000000000001
iptables -A FORWARD -j vpa--1700000000000001
iptables -A FORWARD -s 10.255.15.7/32 -o eth0 -j netout--d538d169-f2f6-4587-7
iptables -A netout--d538d169-f2f6-4587-7 -m state --state RELATED,ESTABLISHED -j ACCEPT
iptables -A netout--d538d169-f2f6-4587-7 -j asg-d538d169f2f645877b1
iptables -A netout--d538d169-f2f6-4587-7 -m limit --limit 1/s --limit-burst 1 -j LOG --log-prefix "DENY_d538d169-f2f6-4587-77b1 "
iptables -A netout--d538d169-f2f6-4587-7 -j REJECT --reject-with icmp-port-unreachable
iptables -A asg-d538d169f2f645877b1 -p icmp -m iprange --dst-range 10.10.10.0-10.10.10.255 -m icmp --icmp-type 8/0 -g netout--d538d169-f2f6-4--log
iptables -A asg-d538d169f2f645877b1 -p icmp -m iprange --dst-range 10.10.11.0-10.10.11.255 -m icmp --icmp-type 0/0 -g netout--d538d169-f2f6-4--log
iptables -A asg-d538d169f2f645877b1 -p udp -m iprange --dst-range 10.10.10.0-10.10.10.255 -m udp --dport 7202:7203 -g netout--d538d169-f2f6-4--log
iptables -A netout--d538d169-f2f6-4--log ! -p udp -m conntrack --ctstate INVALID,NEW,UNTRACKED -j LOG --log-prefix "OK_d538d169-f2f6-4587-77b1-5 "
iptables -A netout--d538d169-f2f6-4--log -p udp -m limit --limit 100/s --limit-burst 100 -j LOG --log-prefix "OK_d538d169-f2f6-4587-77b1-5 "
iptables -A netout--d538d169-f2f6-4--log -j ACCEPT
iptables -A vpa--1700000000000001 -d 10.255.15.13/32 -p icmp -m icmp --icmp-type 8 -m mark --mark 0x2 -j LOG --log-prefix "OK_0002_e9e8959f-3828-4136-8 "
iptables -A vpa--1700000000000001 -d 10.255.15.13/32 -p icmp -m icmp --icmp-type 8 -m mark --mark 0x2 -j ACCEPT
iptables -A vpa--1700000000000001 -d 10.255.15.13/32 -p udp -m multiport --dports 7202,7203 -m mark --mark 0x2 -m limit --limit 100/s --limit-burst 100 -j LOG --log-prefix "OK_0002_e9e8959f-3828-4136-8 "
iptables -A vpa--1700000000000001 -d 10.255.15.13/32 -p udp -m multiport --dports 7202,7203 -m mark --mark 0x2 -j ACCEPT
SH
save iptables-save >"$out/cf-icmp.iptables-save"

# ---- native nftables: `log level/flags` in ip, ip6 and inet tables ----
fresh
in_ns nft -f - <<'NFT'
table ip edge {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 22 ct state new log prefix "EDGE_SSH " level info flags tcp sequence,options
		udp dport { 53, 5353 } log prefix "EDGE_DNS " level notice
		icmp type echo-request limit rate 5/second log prefix "EDGE_PING " flags ip options
		tcp dport 8080 log prefix "EDGE_WEB " flags skuid comment "web: who sends"
	}
}
table ip6 edge6 {
	chain input {
		type filter hook input priority filter; policy accept;
		icmpv6 type echo-request log prefix "EDGE6_PING " level debug
		tcp dport 443 log prefix "EDGE6_TLS " flags all
	}
}
table inet host {
	chain forward {
		type filter hook forward priority filter; policy accept;
		meta l4proto ipv6-icmp icmpv6 type nd-neighbor-solicit log prefix "HOST_ND " level err flags ether
		tcp dport 25 log prefix "HOST_SMTP " level crit reject with tcp reset
		ip saddr 10.0.0.0/8 tcp dport 3306 log prefix "HOST_DB " level alert flags tcp options flags ip options
	}
}
NFT
in_ns nft list ruleset >"$out/native.nft"
echo "made: $(cd "$out" && ls *.iptables-save *.ip6tables-save *.nft | tr '\n' ' ')"
