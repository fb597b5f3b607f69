# shellcheck shell=bash
# A sandboxed Cloud Foundry cell in network namespaces, for scripts/demo (sourced).
#
#   outside (eth0 10.0.0.1) ── eth0 10.0.0.2  cell  s-010255015007 ── eth0 10.255.15.7   c7
#                                                   s-010255015013 ── eth0 10.255.15.13  c13
#                                                   s-010255015020 ── eth0 10.255.15.20  c20
#
# As on a cell (../shared/facts/cloudfoundry.md): host-side veths are "s-" + the container
# IPv4 as four zero-padded groups, the container side is eth0 with a /32 and a default route
# via 169.254.0.1 (every host-side veth carries that address), the cell forwards. The filter
# table holds LOG rules of all five prefix kinds, in the chains silk-release writes them to
# (vpa--<µs>, overlay--<handle>, netout--<handle>[--log|--rl-log]); chain names are cut to
# iptables' 28 characters and LOG prefixes to LOG's 28 + a space, as on a real cell.
#
# Needs: CELL_TAG (unique namespace prefix), DEMO_TMP (temp dir). Defines NS_CELL, NS_OUT,
# NS_C7, NS_C13, NS_C20 and the functions below.

NFLOG_GROUP=42
ORG=604bd59e-4139-4734-a3be-4e97836eb790
SPACE=b9f86312-a7d7-4bcf-b70f-a440436c210b

# container: short name, IP, handle, app guid, space guid, org guid
CONTAINERS=(
  "c7  10.255.15.7  7a2c1d3e-0f4b-4c5d-6e7f-8a9b e9e8959f-3828-4136-8c4d-6b05c1b8e2a1 $SPACE $ORG"
  "c13 10.255.15.13 ffec8b0f-bdcf-42e7-7a89-f01e c5836386-b934-424a-8d93-5894115b3130 8bd0678d-c5fd-4991-8a5c-a75c75440e0b d95a6357-6124-48fe-80f9-c8ff6c250a6e"
  "c20 10.255.15.20 d538d169-f2f6-4587-77b1-a0b1 bc6f229d-5e4a-4c41-a63f-e8795496c283 $SPACE $ORG"
)
H7=7a2c1d3e-0f4b-4c5d-6e7f-8a9b
H13=ffec8b0f-bdcf-42e7-7a89-f01e
H20=d538d169-f2f6-4587-77b1-a0b1
APP13=c5836386-b934-424a-8d93-5894115b3130
OUTSIDE_IP=10.0.0.1

NS_CELL=$CELL_TAG-cell
NS_OUT=$CELL_TAG-outside
NS_C7=$CELL_TAG-c7
NS_C13=$CELL_TAG-c13
NS_C20=$CELL_TAG-c20

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# s-010255015007 for 10.255.15.7
veth_name() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  printf 's-%03d%03d%03d%03d' "$a" "$b" "$c" "$d"
}
# aa:aa:0a:ff:0f:07 (container side) / ee:ee:... (host side), as silk does
mac_for() {
  local a b c d
  IFS=. read -r a b c d <<<"$2"
  printf '%s:%s:%02x:%02x:%02x:%02x' "$1" "$1" "$a" "$b" "$c" "$d"
}

cell_create() {
  local ns
  for ns in "$NS_CELL" "$NS_OUT" "$NS_C7" "$NS_C13" "$NS_C20"; do
    ip netns add "$ns"
    CREATED_NS+=("$ns")
    ip -n "$ns" link set lo up
  done
  # the underlay: the cell's eth0 to an outside host
  ip -n "$NS_CELL" link add eth0 type veth peer name eth0 netns "$NS_OUT"
  ip -n "$NS_CELL" addr add 10.0.0.2/24 dev eth0
  ip -n "$NS_OUT" addr add "$OUTSIDE_IP/24" dev eth0
  ip -n "$NS_CELL" link set eth0 up
  ip -n "$NS_OUT" link set eth0 up
  ip -n "$NS_OUT" route add 10.255.0.0/16 via 10.0.0.2
  # the containers
  local line name ipaddr rest cns host
  for line in "${CONTAINERS[@]}"; do
    read -r name ipaddr rest <<<"$line"
    cns=$CELL_TAG-$name
    host=$(veth_name "$ipaddr")
    ip -n "$NS_CELL" link add "$host" address "$(mac_for ee "$ipaddr")" type veth \
      peer name eth0 address "$(mac_for aa "$ipaddr")" netns "$cns"
    ip -n "$NS_CELL" addr add 169.254.0.1/32 dev "$host"
    ip -n "$NS_CELL" link set "$host" up
    ip -n "$NS_CELL" route add "$ipaddr/32" dev "$host"
    ip -n "$cns" addr add "$ipaddr/32" dev eth0
    ip -n "$cns" link set eth0 up
    ip -n "$cns" route add 169.254.0.1 dev eth0 scope link
    ip -n "$cns" route add default via 169.254.0.1 dev eth0 src "$ipaddr"
  done
  in_ns "$NS_CELL" sysctl -qw net.ipv4.ip_forward=1
}

# Kill what still runs in our namespaces, then delete them.
cell_destroy() {
  local ns pid
  for ns in "${CREATED_NS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for ns in "${CREATED_NS[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
  CREATED_NS=()
}

# The store.json the CNI wrapper would have written, with its lock and version files.
cell_store() {
  local dir=$1 line name ipaddr handle app space org sep=""
  mkdir -p "$dir"
  {
    echo "{"
    for line in "${CONTAINERS[@]}"; do
      read -r name ipaddr handle app space org <<<"$line"
      printf '%s  "%s": {"handle": "%s", "ip": "%s", "metadata": {"app_id": "%s", "space_id": "%s", "org_id": "%s", "policy_group_id": "%s", "ports": "8080", "container_workload": "app"}}' \
        "$sep" "$handle" "$handle" "$ipaddr" "$app" "$space" "$org" "$app"
      sep=$',\n'
    done
    printf '\n}\n'
  } >"$dir/store.json"
  : >"$dir/store.json_lock"
  echo 1 >"$dir/store.json_version"
}

# One kernel LOG rule (prefix cut to 28 characters + a space, as LOG allows) and, with
# COMPANIONS=1, its NFLOG companion just before it: same matches, the full prefix.
log_rule() {
  local chain=$1 matches=$2 prefix=$3
  if [[ ${COMPANIONS:-0} == 1 ]]; then
    echo "-A $chain $matches -j NFLOG --nflog-group $NFLOG_GROUP --nflog-prefix \"$prefix\" --nflog-size 128"
  fi
  echo "-A $chain $matches -j LOG --log-prefix \"${prefix:0:28} \""
}

# iptables-restore input for the cell's filter table. Traffic the rules allow and deny:
#   c7 -> c13 tcp/udp 8080   allowed by a c2c policy (c7's app has tag 0002)  OK_0002_<app>
#   anything else -> c7/c13/c20                denied c2c                     DENY_C2C_<handle>
#   c7 -> outside tcp 80, udp 53, icmp         allowed by an ASG with logging OK_<handle>
#   c7, c13 -> outside anything else           denied                         DENY_<handle>
#   c20 -> outside tcp 80: allowed, but at most 1 new connection a minute     DENY_ORL_<handle>
cell_rules() {
  local vpa=vpa--1700000000000000
  local o7=overlay--${H7:0:19} o13=overlay--${H13:0:19} o20=overlay--${H20:0:19}
  local n7=netout--${H7:0:20} n13=netout--${H13:0:20} n20=netout--${H20:0:20}
  local n7l=netout--${H7:0:15}--log n20l=netout--${H20:0:15}--log n20r=netout--${H20:0:12}--rl-log
  local deny="-m limit --limit 10/s --limit-burst 10"
  echo "*filter"
  local c
  for c in "$vpa" "$o7" "$o13" "$o20" "$n7" "$n13" "$n20" "$n7l" "$n20l" "$n20r"; do
    echo ":$c - [0:0]"
  done
  echo "-A FORWARD -j $vpa"
  echo "-A FORWARD -s 10.255.15.7/32 -o eth0 -j $n7"
  echo "-A FORWARD -s 10.255.15.13/32 -o eth0 -j $n13"
  echo "-A FORWARD -s 10.255.15.20/32 -o eth0 -j $n20"
  echo "-A FORWARD -d 10.255.15.7/32 -j $o7"
  echo "-A FORWARD -d 10.255.15.13/32 -j $o13"
  echo "-A FORWARD -d 10.255.15.20/32 -j $o20"
  # c2c policy (silk's vpa chain): marks by source app, then the allowed destinations
  echo "-A $vpa -s 10.255.15.7/32 -j MARK --set-xmark 0x2/0xffffffff"
  echo "-A $vpa -s 10.255.15.13/32 -j MARK --set-xmark 0x3/0xffffffff"
  echo "-A $vpa -s 10.255.15.20/32 -j MARK --set-xmark 0x4/0xffffffff"
  log_rule "$vpa" "-d 10.255.15.13/32 -p tcp -m tcp --dport 8080:8080 -m mark --mark 0x2 -m conntrack --ctstate INVALID,NEW,UNTRACKED" "OK_0002_$APP13"
  echo "-A $vpa -d 10.255.15.13/32 -p tcp -m tcp --dport 8080:8080 -m mark --mark 0x2 -j ACCEPT"
  log_rule "$vpa" "-d 10.255.15.13/32 -p udp -m udp --dport 8080:8080 -m mark --mark 0x2 -m limit --limit 100/s --limit-burst 100" "OK_0002_$APP13"
  echo "-A $vpa -d 10.255.15.13/32 -p udp -m udp --dport 8080:8080 -m mark --mark 0x2 -j ACCEPT"
  # overlay: established traffic in, everything else to the container denied
  local chain ipaddr handle
  for c in "$o7 10.255.15.7 $H7" "$o13 10.255.15.13 $H13" "$o20 10.255.15.20 $H20"; do
    read -r chain ipaddr handle <<<"$c"
    echo "-A $chain -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    log_rule "$chain" "-d $ipaddr/32 $deny" "DENY_C2C_$handle"
    echo "-A $chain -d $ipaddr/32 -j REJECT --reject-with icmp-port-unreachable"
  done
  # netout (ASGs): c7 may reach the outside host on tcp 80, udp 53 and icmp, logged
  echo "-A $n7 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
  echo "-A $n7 -d $OUTSIDE_IP/32 -p tcp -m tcp --dport 80 -g $n7l"
  echo "-A $n7 -d $OUTSIDE_IP/32 -p udp -m udp --dport 53 -g $n7l"
  echo "-A $n7 -d $OUTSIDE_IP/32 -p icmp -m icmp --icmp-type any -g $n7l"
  log_rule "$n7" "$deny" "DENY_$H7"
  echo "-A $n7 -j REJECT --reject-with icmp-port-unreachable"
  # c13 has no ASG: every new outbound connection is denied
  echo "-A $n13 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
  log_rule "$n13" "$deny" "DENY_$H13"
  echo "-A $n13 -j REJECT --reject-with icmp-port-unreachable"
  # c20: tcp 80 allowed, under the outbound connection rate limit (1 a minute here)
  echo "-A $n20 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
  echo "-A $n20 -d $OUTSIDE_IP/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW -m hashlimit --hashlimit-above 1/min --hashlimit-burst 1 --hashlimit-mode dstip,dstport --hashlimit-name ${H20:0:8} -j $n20r"
  echo "-A $n20 -d $OUTSIDE_IP/32 -p tcp -m tcp --dport 80 -g $n20l"
  log_rule "$n20" "$deny" "DENY_$H20"
  echo "-A $n20 -j REJECT --reject-with icmp-port-unreachable"
  # the --log chains (ASG accept with logging) and the rate limit's log chain
  for c in "$n7l $H7" "$n20l $H20"; do
    read -r chain handle <<<"$c"
    log_rule "$chain" "! -p udp -m conntrack --ctstate INVALID,NEW,UNTRACKED" "OK_$handle"
    log_rule "$chain" "-p udp -m limit --limit 100/s --limit-burst 100" "OK_$handle"
    echo "-A $chain -j ACCEPT"
  done
  log_rule "$n20r" "$deny" "DENY_ORL_$H20"
  echo "-A $n20r -j REJECT --reject-with icmp-port-unreachable"
  echo "COMMIT"
}
