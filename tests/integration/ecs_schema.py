"""The ECS field definitions netlog's `format: ecs` documents are checked against.

From ../shared/facts/ecs.md: section 1 (ECS 8.17 / main generated/ecs/ecs_flat.yml: name,
type, [array], allowed values), section 2 (Filebeat's iptables module fields, fields.yml:
numbers are long, addresses ip, device names and flags keyword) and section 3
(cloudfoundry.* from Beats and OpenTelemetry: keyword). ECS fields the facts table does not
list but netlog writes are marked with where they come from; `netlog.*` is netlog's own
namespace (ECS has no field for a LOG prefix).
"""
import ipaddress
import re

KEYWORD, IP, LONG, DATE, TEXT = "keyword", "ip", "long", "date", "match_only_text"

# name: (type, array?)
FIELDS = {
    "@timestamp": (DATE, False),
    "message": (TEXT, False),
    "ecs.version": (KEYWORD, False),
    "log.level": (KEYWORD, False),  # ECS log.level (ecs-logging's first keys, facts §1 end)
    "event.kind": (KEYWORD, False),
    "event.category": (KEYWORD, True),
    "event.type": (KEYWORD, True),
    "event.action": (KEYWORD, False),
    "event.outcome": (KEYWORD, False),
    "event.start": (DATE, False),  # ECS event.start / event.end (summaries only)
    "event.end": (DATE, False),
    "source.ip": (IP, False), "destination.ip": (IP, False),
    "source.port": (LONG, False), "destination.port": (LONG, False),
    "source.mac": (KEYWORD, False), "destination.mac": (KEYWORD, False),
    "network.transport": (KEYWORD, False),
    "network.type": (KEYWORD, False),
    "network.direction": (KEYWORD, False),
    "network.iana_number": (KEYWORD, False),
    "network.community_id": (KEYWORD, False),
    "observer.ingress.interface.name": (KEYWORD, False),
    "observer.egress.interface.name": (KEYWORD, False),
    "rule.name": (KEYWORD, False),
    "container.id": (KEYWORD, False),
    "container.name": (KEYWORD, False),
    "container.image.name": (KEYWORD, False),
    "host.ip": (IP, True),
    "host.id": (KEYWORD, False),
    "related.ip": (IP, True),
    "orchestrator.type": (KEYWORD, False),
    "cloudfoundry.app.id": (KEYWORD, False),
    "cloudfoundry.space.id": (KEYWORD, False),
    "cloudfoundry.org.id": (KEYWORD, False),
    # Filebeat's iptables module (facts §2)
    "iptables.ether_type": (LONG, False),
    "iptables.input_device": (KEYWORD, False),
    "iptables.output_device": (KEYWORD, False),
    "iptables.length": (LONG, False),
    "iptables.tos": (LONG, False),
    "iptables.precedence_bits": (LONG, False),
    "iptables.ttl": (LONG, False),
    "iptables.id": (LONG, False),
    "iptables.fragment_flags": (KEYWORD, True),
    "iptables.fragment_offset": (LONG, False),
    "iptables.flow_label": (LONG, False),
    "iptables.tcp.seq": (LONG, False),
    "iptables.tcp.ack": (LONG, False),
    "iptables.tcp.window": (LONG, False),
    "iptables.tcp.reserved_bits": (LONG, False),
    "iptables.tcp.flags": (KEYWORD, True),
    "iptables.udp.length": (LONG, False),
    "iptables.icmp.type": (LONG, False),
    "iptables.icmp.code": (LONG, False),
    "iptables.icmp.id": (LONG, False),
    "iptables.icmp.seq": (LONG, False),
    "iptables.icmp.parameter": (LONG, False),
    "iptables.icmp.redirect": (IP, False),
    # netlog's own
    "netlog.prefix": (KEYWORD, False),
    "netlog.mark": (KEYWORD, False),
    "netlog.suppressed": (LONG, False),
}
OBJECTS = {"container.labels"}  # object: key/value, values keyword

ALLOWED = {
    "event.kind": {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error",
                   "signal"},
    "event.category": {"api", "authentication", "configuration", "database", "driver", "email",
                       "file", "host", "iam", "intrusion_detection", "library", "malware",
                       "network", "package", "process", "registry", "session", "threat",
                       "vulnerability", "web"},
    "event.type": {"access", "admin", "allowed", "change", "connection", "creation", "deletion",
                   "denied", "device", "end", "error", "group", "indicator", "info",
                   "installation", "protocol", "start", "user"},
    "event.outcome": {"success", "failure", "unknown"},
    "network.direction": {"ingress", "egress", "inbound", "outbound", "internal", "external",
                          "unknown"},
    "log.level": {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"},
}
# With category network, the expected event types (facts §1)
NETWORK_TYPES = {"access", "allowed", "connection", "denied", "end", "info", "protocol", "start"}

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
COMMUNITY_ID_RE = re.compile(r"^1:[A-Za-z0-9+/]{27}=$")
MAC_RE = re.compile(r"^[0-9A-F]{2}(-[0-9A-F]{2}){5}$")  # RFC 7042, as ECS suggests


def flatten(doc, prefix="", out=None):
    out = {} if out is None else out
    for k, v in doc.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and name not in OBJECTS:
            if not v:
                out[name] = v  # an empty object: reported by validate()
            flatten(v, name + ".", out)
        else:
            out[name] = v
    return out


def _type_ok(kind, v):
    if kind in (KEYWORD, TEXT):
        return isinstance(v, str) and v != ""
    if kind == IP:
        try:
            ipaddress.ip_address(v)
            return isinstance(v, str)
        except ValueError:
            return False
    if kind == LONG:
        return isinstance(v, int) and not isinstance(v, bool) and -2**63 <= v < 2**63
    if kind == DATE:
        return isinstance(v, str) and DATE_RE.match(v) is not None
    return False


def validate(doc):
    """Problems of one ECS document (a dict), as strings; [] when it conforms."""
    problems = []
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    flat = flatten(doc)
    for name, v in flat.items():
        if name in OBJECTS:
            if not isinstance(v, dict) or not v:
                problems.append(f"{name}: expected a non-empty object")
                continue
            for k, lv in v.items():
                if "." in k or not isinstance(lv, str):
                    problems.append(f"{name}.{k}: a label is a keyword without '.' in its key")
            continue
        if isinstance(v, dict):
            problems.append(f"{name}: empty object (a field without a value must be absent)")
            continue
        if name not in FIELDS:
            problems.append(f"{name}: not an ECS field (nor Filebeat's iptables.*, "
                            f"cloudfoundry.*, netlog.*)")
            continue
        kind, array = FIELDS[name]
        values = v if isinstance(v, list) else [v]
        if isinstance(v, list) and not array:
            problems.append(f"{name}: an array where ECS has one value")
        if isinstance(v, list) and not v:
            problems.append(f"{name}: empty array")
        for x in values:
            if not _type_ok(kind, x):
                problems.append(f"{name}: {x!r} is not a valid {kind}")
            if name in ALLOWED and x not in ALLOWED[name]:
                problems.append(f"{name}: {x!r} is not an allowed value")
    if "network" in flat.get("event.category", []):
        for t in flat.get("event.type", []):
            if t not in NETWORK_TYPES:
                problems.append(f"event.type {t!r} is not expected with category network")
    for name in ("network.transport", "network.type"):
        if name in flat and flat[name] != flat[name].lower():
            problems.append(f"{name}: must be lowercase")
    if "network.iana_number" in flat and not flat["network.iana_number"].isdigit():
        problems.append("network.iana_number: not a protocol number")
    if "network.community_id" in flat and not COMMUNITY_ID_RE.match(flat["network.community_id"]):
        problems.append(f"network.community_id: {flat['network.community_id']!r} is not 1:<base64>")
    for name in ("source.mac", "destination.mac"):
        if name in flat and not MAC_RE.match(flat[name]):
            problems.append(f"{name}: {flat[name]!r} is not in RFC 7042 notation")
    for required in ("@timestamp", "ecs.version", "event.kind", "event.category", "event.type"):
        if required not in flat:
            problems.append(f"{required}: missing")
    return problems
