// The Elastic Common Schema format (`format: ecs`): one ECS 8.x document per event, dotted
// field names as nested objects, so Elasticsearch and OpenSearch index it without an ingest
// pipeline. Field names and types: ../shared/facts/ecs.md; packet details under the names
// Filebeat's iptables module gives them (iptables.*). A field without a value is absent,
// never "" or null. Pure: appends to a reused buffer.
#pragma once

#include <netlog/event.h>
#include <netlog/summary.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netlog {

// The ECS version the documents conform to (ecs.version).
inline constexpr std::string_view ecs_version = "8.17.0";

struct EcsOptions {
    std::string_view host_ip, host_guid; // host.ip / host.id; "" = absent
};

// One document, '\n'-terminated. Keys, in this order (each only when it has a value):
//   @timestamp (RFC 3339 UTC, 9 fractional digits), log.level (the LOG rule's level, when
//   the event carries one), message ("<direction>-<verdict> <proto> SRC[:PORT] -> DST[:PORT]"),
//   ecs.version,
//   event: kind "event", category ["network"], type ["connection","allowed"|"denied"],
//          action "<direction>-<verdict>", outcome success (allowed) | failure (denied),
//   rule.name (the class), source/destination: ip, port, mac (RFC 7042: 00-00-5E-00-53-23),
//   network: transport (IANA keyword, lowercase; ipv6-icmp), type (ipv4|ipv6), direction
//          (ingress|egress), iana_number ("6"), community_id,
//   observer.ingress/egress.interface.name, related.ip [src, dst],
//   container: id, name, image.name, labels (keys with '.' as '_', like Beats' dedot),
//   cloudfoundry: app.id, space.id, org.id; orchestrator.type "cloudfoundry" with them,
//   host: ip [..], id,
//   iptables: ether_type, input_device, output_device, length, tos, precedence_bits, ttl,
//          id, fragment_flags [CE,DF,MF], fragment_offset, flow_label, tcp {seq, ack,
//          window, reserved_bits, flags [CWR..FIN]}, udp.length, icmp {type, code, id,
//          seq, parameter, redirect},
//   netlog: prefix (the LOG prefix), mark ("0x2", non-zero only).
void format_ecs(const Event &ev, const EcsOptions &opt, std::string &out);

// A rate-limit summary as an ECS document: the event fields of the suppressed events with
// event.action "<direction>-<verdict>-suppressed", event.start/end (the first and last
// suppressed event), the container side's address (destination.ip for ingress, source.ip
// for egress), its container, and netlog.suppressed (the count).
void format_suppression_ecs(const SuppressionEvent &s, const EcsOptions &opt, std::string &out);

// The syslog level (0..7) of the LOG rule an event came from, when the event says: the
// options tag of its NFLOG prefix (prefix_tag.h); nullopt for a prefix without one.
std::optional<std::uint8_t> event_log_level(const Event &ev);

// The LOG prefix of an event: its NFLOG prefix without the options tag.
std::string_view event_log_prefix(const Event &ev);

} // namespace netlog
