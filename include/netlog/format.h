// Output formats. Each appends one line (with its trailing '\n') to a reused buffer and
// allocates nothing once the buffer has grown.
#pragma once

#include <array>
#include <cstdint>
#include <netlog/event.h>
#include <string>
#include <string_view>

namespace netlog {

// Append `s` as a JSON string body (no quotes) with every byte correctly escaped:
// " and \ escaped; \b \f \n \r \t; other control characters as \u00XX; DEL (0x7f) and
// well-formed UTF-8 pass through; each maximal ill-formed UTF-8 subpart (overlong forms,
// surrogates, > U+10FFFF, stray or truncated bytes) becomes \ufffd.
void json_escape(std::string_view s, std::string &out);

// Optional extras of the seed JSON format; all off by default. They come after the seed
// keys and never rename one:
//   data.packet, after "mark":
//     tcp_flags  "tcp_flags":"SYN,ACK"  set flags in bit order FIN,SYN,RST,PSH,ACK,URG,ECE,CWR,
//                                       comma-separated ("" if none); TCP with a header only
//     length     "length":60            IPv4 total length / IPv6 payload length + 40
//     ttl        "ttl":63               IPv4 TTL / IPv6 hop limit
//     community_id "community_id":"1:..." the flow's Community ID v1 (community_id.h);
//                                       absent when the packet does not give the flow
//   data, after "packet":
//     interfaces "in_interface":"s-010255015007","out_interface":"eth0"  ("" when none)
//     class_name "class":"c2c-ingress-denied"   ("" when the prefix matched no class)
//     prefix     "prefix":"DENY_C2C_..."        the full NFLOG prefix
//     host       "host_ip":"10.0.16.15","host_guid":"0455ec2b-..."
//     peer       ingress: "source":{the four keys of the sending container; when it is not on
//                this cell, app_guid from the packet's mark and the others ""}; egress to a
//                container on this cell: "destination":{its four keys}; else nothing
struct JsonOptions {
    std::string_view source = "network-log-forwarder";
    bool tcp_flags = false, length = false, ttl = false, interfaces = false;
    bool class_name = false, prefix = false, host = false;
    bool community_id = false;
    bool peer = false;
    bool rule = false; // data.rule: {"name": class, its fields...} (classified events only)
    std::string_view host_ip, host_guid;
    // The container object of an event whose container is unknown; empty: the CF store's
    // (four "" keys). Docker/Podman sources: engine_unknown_container_json.
    std::string_view unknown_container;
    // Set by json_prepare(): for each direction and verdict (index direction * 2 + verdict),
    // the text from the timestamp's closing quote to the container object, `source` escaped
    // once. Empty: format_json writes that text piece by piece (the same bytes).
    std::array<std::string, 4> head;
};

// Renders opt.head from opt.source; call again after changing `source`.
void json_prepare(JsonOptions &opt);

// The seed JSON's container object of `c`: {"container_id":..,"app_guid":..,"space_guid":..,
// "organization_guid":..} (ContainerIndex renders it once per container; format_json uses it).
struct Container;
std::string container_json(const Container &c);

// The seed document's JSON line (../shared/DESIGN.md "Seed JSON"), '\n'-terminated.
// data.packet: src_ip, [src_port], dst_ip, [dst_port], protocol, [type, code], [mark].
// Ports appear whenever the packet carried them (TCP, UDP, and also UDP-Lite/SCTP/DCCP),
// type/code for ICMP/ICMPv6 with a header, mark when non-zero. "protocol" is always a
// string: the lowercase IANA keyword, or the decimal number ("253") when there is none.
void format_json(const Event &ev, const JsonOptions &opt, std::string &out);

// A followed connection's end (netlog/conntrack.h, `connections:`). Its body is rendered
// when the connection is followed: the original event's container object and its packet
// with the seed keys only (no extras). The line, '\n'-terminated:
//   {"timestamp":..,"source":..,"message":"<direction>-failed"|"<direction>-closed",
//    "log_level":1,"data":{"source"|"destination":{container},"packet":{..},
//    "connection":{"outcome":"refused"|"unanswered"|"unreachable","duration_ms":N}}}
// closed: "connection":{"duration_ms":N,"orig_packets":..,"orig_bytes":..,"reply_packets":..,
// "reply_bytes":..} (the counters when conntrack accounting is on); the extra `host` adds
// host_ip and host_guid as for other events.
void json_connection_body(const Event &ev, const JsonOptions &opt, std::string &out);
struct ConnEnd;
void format_json_connection(const ConnEnd &c, const JsonOptions &opt, std::string &out);

// Cloud Foundry iptables-logger compatible JSON (facts/cloudfoundry.md §4), '\n'-terminated:
// what the real program writes for the kernel's LOG line of the same packet.
// rfc3339: {"timestamp":"2024-05-03T23:35:07.123456789Z","level":"info","source":...,"data":...}
// epoch:   {"timestamp":"1500923950.331232071","source":...,"log_level":1,"data":...}
// `data` is a Go map, so its keys are sorted: {"destination":{container},"packet":{...}} for
// ingress, {"packet":{...},"source":{container}} for egress. The packet's src_ip, dst_ip,
// src_port, dst_port, protocol, mark, icmp_type and icmp_code are the FIRST SRC=, DST=,
// SPT=, DPT=, PROTO=, MARK=, TYPE=, CODE= words of the kernel's text for the event
// (format_klog, prefix included), as the real parser reads them: an ICMP error has the
// ports of the header it quotes, IPv6 addresses are the kernel's uncompressed %pI6 text,
// a missing or non-numeric number is 0, a missing string "". direction and allowed are the
// event's class. Strings are escaped as Go's encoding/json does (json_escape_go).
struct IptablesLoggerOptions {
    enum class TimeStyle : std::uint8_t { rfc3339, epoch } time_style = TimeStyle::rfc3339;
    std::string_view host_ip, host_guid;
    // Tests: read every event's fields from its kernel text, even where they are known
    // without writing it (the two must agree).
    bool read_kernel_line = false;
};
void format_iptables_logger(const Event &ev, const IptablesLoggerOptions &opt, std::string &out);

// The iptables-logger container object's start for `c`: {"container_id":..,"app_guid":..,
// "space_guid":..,"organization_guid":.. (ContainerIndex renders it once per container).
std::string iptables_logger_container_json(const Container &c);

// The kernel LOG target's text for the packet, as net/netfilter/nf_log_syslog.c builds it
// for the LOG rule's flags (ev.log_flags: --log-tcp-sequence "SEQ= ACK=", --log-tcp-options
// and --log-ip-options "OPT (..)", --log-uid "UID= GID=" from NFLOG's UID/GID, --log-macdecode
// "MACSRC= MACDST= MACPROTO=" on Ethernet; nft `log flags` are the same bits).
// Appends: [ev.prefix] + "IN=<in> OUT=<out> " + ["MAC=<hwheader as xx:xx:..> " when the event
// has an input device] + the IPv4/IPv6/ARP fields + ["MARK=0x<hex> " when non-zero] + '\n'.
// That is exactly the message of the kernel's printk record (what /dev/kmsg shows after
// "prio,seq,ts,flags;", before /dev/kmsg's \xNN escaping of bytes < 0x20, >= 0x7f and '\'),
// INCLUDING the trailing space before '\n' that the kernel leaves after its last field
// (syslog daemons usually strip it; kern.log samples show none).
// The fields are read from the captured bytes (ev.msg->payload, else ev.packet.network)
// the way the kernel walks the skb; the packet length the kernel knows (skb->len) is taken
// from the IP header (IPv4 total length, IPv6 payload length + 40), so a capture shorter
// than a header prints "INCOMPLETE [n bytes]" where the kernel, having the whole packet,
// printed the fields. Like the kernel, the text is cut at 1016 bytes.
// `with_prefix` false gives the text after the prefix only.
void format_klog(const Event &ev, std::string &out, bool with_prefix = true);

} // namespace netlog
