// JSON string escaping and the seed JSON line (DESIGN.md "Seed JSON").
#include "text_append.h"

#include <algorithm>
#include <array>
#include <cstring>
#include "community_id.h"
#include <netlog/format.h>
#include <netlog/conntrack.h>

namespace netlog {

namespace {

// 1: an ASCII byte that must be escaped; 2: a byte >= 0x80 (needs UTF-8 validation).
constexpr std::array<std::uint8_t, 256> make_class_table() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = 1;
    t['"'] = 1;
    t['\\'] = 1;
    for (int c = 0x80; c < 0x100; ++c) t[c] = 2;
    return t;
}
constexpr auto byte_class = make_class_table();

// Length of a well-formed UTF-8 sequence at s[0..n) (Unicode Table 3-7), or, if it is
// ill-formed, 0 and in *bad the length of its maximal subpart (>= 1) to replace by U+FFFD.
std::size_t utf8_sequence(const unsigned char *s, std::size_t n, std::size_t *bad) {
    const unsigned char c = s[0];
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF; // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; // <= U+10FFFF
    } else {
        *bad = 1;
        return 0;
    }
    std::size_t i = 1;
    for (; i < len; ++i) {
        if (i >= n) break;
        const unsigned char b = s[i];
        const unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) break;
    }
    if (i == len) return len;
    *bad = i;
    return 0;
}

std::uint64_t load8(const unsigned char *p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

// Whether any of the 8 bytes is < 0x20, '"', '\\' or >= 0x80 (exact, SWAR).
bool needs_attention(std::uint64_t v) {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
    const std::uint64_t control = (v - ones * 0x20) & ~v & highs;
    return ((v & highs) | control | has_zero(v ^ (ones * '"')) | has_zero(v ^ (ones * '\\'))) != 0;
}

void put_escaped_byte(unsigned char c, text::Out &out) {
    switch (c) {
    case '"': out.put("\\\""); return;
    case '\\': out.put("\\\\"); return;
    case '\b': out.put("\\b"); return;
    case '\f': out.put("\\f"); return;
    case '\n': out.put("\\n"); return;
    case '\r': out.put("\\r"); return;
    case '\t': out.put("\\t"); return;
    default: {
        char *p = out.room(6);
        std::memcpy(p, "\\u00", 4);
        p[4] = "0123456789abcdef"[c >> 4];
        p[5] = "0123456789abcdef"[c & 0xf];
        out.commit(6);
    }
    }
}

// `,"key":"<escaped value>"` (the key text carries its punctuation).
void put_string_member(text::Out &out, std::string_view key, std::string_view value) {
    out.put(key);
    text::json_string(value, out);
}

void put_container(text::Out &out, const Container *c) {
    static const Container unknown{};
    const Container &k = c ? *c : unknown;
    if (!k.json.empty()) {
        out.put(k.json);
        return;
    }
    put_string_member(out, "{\"container_id\":", k.handle);
    put_string_member(out, ",\"app_guid\":", k.app_guid);
    put_string_member(out, ",\"space_guid\":", k.space_guid);
    put_string_member(out, ",\"organization_guid\":", k.organization_guid);
    out.put('}');
}

// The json extra `peer` (format.h): the packet's other side.
void put_peer(text::Out &out, const Event &ev, const JsonOptions &opt) {
    if (ev.direction == Direction::egress) {
        if (!ev.peer) return;
        out.put(",\"destination\":");
        put_container(out, ev.peer);
        return;
    }
    out.put(",\"source\":");
    if (ev.peer) {
        put_container(out, ev.peer);
    } else if (ev.peer_app.empty() && !opt.unknown_container.empty()) {
        out.put(opt.unknown_container);
    } else { // not on this cell: the app its mark names, nothing else known
        out.put("{\"container_id\":\"\"");
        put_string_member(out, ",\"app_guid\":", ev.peer_app);
        out.put(",\"space_guid\":\"\",\"organization_guid\":\"\"}");
    }
}

bool is_icmp(const Packet &p) {
    return (p.l3 == L3::ipv4 && p.protocol == 1) || (p.l3 == L3::ipv6 && p.protocol == 58);
}

void put_tcp_flags(text::Cursor &c, std::uint8_t flags) {
    static constexpr std::array<std::string_view, 8> names = {"FIN", "SYN", "RST", "PSH",
                                                              "ACK", "URG", "ECE", "CWR"};
    c.put('"');
    bool first = true;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (!(flags & (1u << i))) continue;
        if (!first) c.put(',');
        c.put(names[i]);
        first = false;
    }
    c.put('"');
}

// The protocol keywords (protocol_name) as fixed 16-byte pieces, the longest being 15: a
// fixed-size copy instead of a call and a copy of the keyword's length.
struct Keyword {
    char text[16];
    std::uint8_t len;
};
const std::array<Keyword, 256> protocol_keywords = [] {
    std::array<Keyword, 256> t{};
    for (unsigned i = 0; i < t.size(); ++i) {
        const auto name = protocol_name(static_cast<std::uint8_t>(i));
        if (!name.empty()) // (an unnamed protocol's view has no data to copy)
            std::memcpy(t[i].text, name.data(), std::min(name.size(), sizeof t[i].text));
        t[i].len = static_cast<std::uint8_t>(name.size()); // (all are under 16: see packet.cpp)
    }
    return t;
}();

// The most put_packet writes: each member at its longest (addresses 48, integers as Cursor
// says, the longest protocol keyword 15, the eight TCP flag names), rounded up.
constexpr std::size_t packet_max = 512;

void put_packet(text::Out &out, const Event &ev, const JsonOptions &opt) {
    const Packet &p = ev.packet;
    text::Cursor c = out.begin(packet_max);
    c.put("{\"src_ip\":\"");
    c.ip(p.src);
    c.put('"');
    if (p.has_ports) {
        c.put(",\"src_port\":");
        c.small(p.src_port);
    }
    c.put(",\"dst_ip\":\"");
    c.ip(p.dst);
    c.put('"');
    if (p.has_ports) {
        c.put(",\"dst_port\":");
        c.small(p.dst_port);
    }
    c.put(",\"protocol\":\"");
    if (p.protocol_unknown) {
        // cut by the copy range before the protocol: say nothing rather than guess
    } else if (const Keyword &k = protocol_keywords[p.protocol]; k.len != 0 && p.l3 != L3::none) {
        if (k.len <= sizeof k.text) {
            std::memcpy(c.p, k.text, sizeof k.text);
            c.p += k.len;
        } else { // a longer keyword than any today: copied at its length
            c.put(protocol_name(p.protocol));
        }
    } else {
        c.small(p.protocol);
    }
    c.put('"');
    if (is_icmp(p) && p.has_icmp) {
        c.put(",\"type\":");
        c.small(p.icmp_type);
        c.put(",\"code\":");
        c.small(p.icmp_code);
    }
    if (ev.msg && ev.msg->mark && *ev.msg->mark != 0) {
        c.put(",\"mark\":\"0x");
        c.hex(*ev.msg->mark);
        c.put('"');
    }
    if (opt.tcp_flags && p.protocol == 6 && p.has_transport) {
        c.put(",\"tcp_flags\":");
        put_tcp_flags(c, p.tcp_flags);
    }
    if (opt.length) {
        c.put(",\"length\":");
        c.small(p.length);
    }
    if (opt.ttl) {
        c.put(",\"ttl\":");
        c.small(p.ttl);
    }
    if (opt.community_id) {
        char id[community_id_size];
        if (community_id(p, id) == community_id_size) {
            c.put(",\"community_id\":\"");
            c.put(std::string_view(id, community_id_size));
            c.put('"');
        }
    }
    c.put('}');
    out.end(c);
}

} // namespace

void text::json_escape(std::string_view s, Out &out) {
    const auto *b = reinterpret_cast<const unsigned char *>(s.data());
    const std::size_t n = s.size();
    std::size_t run = 0; // start of the pending run of bytes that pass through unchanged
    std::size_t i = 0;
    while (i < n) {
        // Fast path: skip 8 plain printable-ASCII bytes at a time.
        while (n - i >= 8 && !needs_attention(load8(b + i))) i += 8;
        if (i == n) break;
        // Fewer than 8 bytes left (or a word that needs a look): the last 8 bytes of the
        // string, overlapping what was checked already, settle a plain tail in one test.
        if (n - i < 8 && n >= 8 && !needs_attention(load8(b + n - 8))) {
            i = n;
            break;
        }
        const std::uint8_t cls = byte_class[b[i]];
        if (cls == 0) {
            ++i;
            continue;
        }
        if (cls == 2) {
            std::size_t bad = 0;
            if (const std::size_t len = utf8_sequence(b + i, n - i, &bad)) {
                i += len; // a well-formed multi-byte sequence passes through
                continue;
            }
            out.put(s.substr(run, i - run));
            out.put("\\ufffd");
            i += bad;
            run = i;
            continue;
        }
        out.put(s.substr(run, i - run));
        put_escaped_byte(b[i], out);
        ++i;
        run = i;
    }
    out.put(s.substr(run));
}

namespace {

// needs_attention(), and also <, > or &.
bool needs_attention_go(std::uint64_t v) {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
    return needs_attention(v) || (has_zero(v ^ (ones * '<')) | has_zero(v ^ (ones * '>')) |
                                  has_zero(v ^ (ones * '&'))) != 0;
}

} // namespace

void text::json_escape_go(std::string_view s, Out &out) {
    const auto *b = reinterpret_cast<const unsigned char *>(s.data());
    const std::size_t n = s.size();
    std::size_t run = 0;
    std::size_t i = 0;
    while (i < n) {
        while (n - i >= 8 && !needs_attention_go(load8(b + i)))
            i += 8; // plain printable ASCII, 8 bytes at a time
        if (i == n) break;
        const unsigned char c = b[i];
        if (c < 0x80) {
            if (byte_class[c] == 0 && c != '<' && c != '>' && c != '&') {
                ++i;
                continue;
            }
            out.put(s.substr(run, i - run));
            put_escaped_byte(c, out); // <, >, & as \u003c, \u003e, \u0026
            run = ++i;
            continue;
        }
        std::size_t bad = 0;
        const std::size_t len = utf8_sequence(b + i, n - i, &bad);
        if (len == 3 && c == 0xE2 && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9)) {
            out.put(s.substr(run, i - run));
            out.put(b[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
            run = i += 3;
            continue;
        }
        if (len) {
            i += len;
            continue;
        }
        // Go's utf8.DecodeRuneInString: each byte that does not start a well-formed
        // sequence is one error of length 1.
        out.put(s.substr(run, i - run));
        out.put("\\ufffd");
        run = ++i;
    }
    out.put(s.substr(run));
}

void json_escape(std::string_view s, std::string &out) {
    text::Out o(out);
    text::json_escape(s, o);
}

std::string container_json(const Container &c) {
    Container plain = c;
    plain.json.clear();
    std::string s;
    {
        text::Out out(s);
        put_container(out, &plain);
    }
    return s;
}

namespace {

// From the timestamp's closing quote to the container object: the same for every event of
// one direction and verdict.
void put_head(text::Out &out, const JsonOptions &opt, Direction d, Verdict v) {
    put_string_member(out, "\",\"source\":", opt.source);
    out.put(",\"message\":\"");
    out.put(to_string(d));
    out.put('-');
    out.put(to_string(v));
    out.put("\",\"log_level\":1,\"data\":{");
    out.put(d == Direction::ingress ? "\"destination\":" : "\"source\":");
}

std::size_t head_index(Direction d, Verdict v) {
    return static_cast<std::size_t>(d) * 2 + static_cast<std::size_t>(v);
}

} // namespace

void json_prepare(JsonOptions &opt) {
    for (auto d : {Direction::ingress, Direction::egress})
        for (auto v : {Verdict::allowed, Verdict::denied}) {
            std::string &h = opt.head[head_index(d, v)];
            h.clear();
            text::Out out(h);
            put_head(out, opt, d, v);
        }
}

void format_json(const Event &ev, const JsonOptions &opt, std::string &str) {
    text::Out out(str);
    text::Cursor c = out.begin(48);
    c.put("{\"timestamp\":\"");
    c.epoch(ev.time);
    out.end(c);
    if (const auto &head = opt.head[head_index(ev.direction, ev.verdict)]; !head.empty())
        out.put(head);
    else
        put_head(out, opt, ev.direction, ev.verdict);
    if (ev.container && !ev.container->json.empty())
        out.put(ev.container->json); // the common case without put_container's call
    else if (!ev.container && !opt.unknown_container.empty())
        out.put(opt.unknown_container);
    else
        put_container(out, ev.container);
    out.put(",\"packet\":");
    put_packet(out, ev, opt);
    if (opt.rule && ev.cls) {
        put_string_member(out, ",\"rule\":{\"name\":", ev.cls->name);
        for (const auto &f : ev.cls->fields) {
            out.put(",\"");
            out.put(f.name); // a field name is letters, digits and '_' (classes.cpp)
            put_string_member(out, "\":", f.value);
        }
        for (std::size_t k = 0; k < ev.captures.n; ++k) {
            if (!ev.cls->is_rule_field(k)) continue;
            out.put(",\"");
            out.put(ev.cls->group_names[k]);
            put_string_member(out, "\":", ev.captures.value[k]);
        }
        out.put('}');
    }
    if (opt.peer) put_peer(out, ev, opt);
    if (opt.interfaces) {
        put_string_member(out, ",\"in_interface\":", ev.in_name);
        put_string_member(out, ",\"out_interface\":", ev.out_name);
    }
    if (opt.class_name)
        put_string_member(out, ",\"class\":", ev.cls ? std::string_view(ev.cls->name) : "");
    if (opt.prefix) put_string_member(out, ",\"prefix\":", ev.prefix);
    if (opt.host) {
        put_string_member(out, ",\"host_ip\":", opt.host_ip);
        put_string_member(out, ",\"host_guid\":", opt.host_guid);
    }
    out.put("}}\n");
}

void json_connection_body(const Event &ev, const JsonOptions &opt, std::string &str) {
    static const JsonOptions seed_keys{};
    text::Out out(str);
    if (ev.container && !ev.container->json.empty())
        out.put(ev.container->json); // the common case without put_container's call
    else if (!ev.container && !opt.unknown_container.empty())
        out.put(opt.unknown_container);
    else
        put_container(out, ev.container);
    out.put(",\"packet\":");
    put_packet(out, ev, seed_keys);
}

void format_json_connection(const ConnEnd &c, const JsonOptions &opt, std::string &str) {
    text::Out out(str);
    out.put("{\"timestamp\":\"");
    out.epoch(c.time);
    put_string_member(out, "\",\"source\":", opt.source);
    out.put(",\"message\":\"");
    out.put(to_string(c.direction));
    out.put(c.failed ? "-failed" : "-closed");
    out.put("\",\"log_level\":1,\"data\":{");
    out.put(c.direction == Direction::ingress ? "\"destination\":" : "\"source\":");
    out.put(c.body);
    out.put(",\"connection\":{");
    if (c.failed) {
        out.put("\"outcome\":\"");
        out.put(to_string(c.outcome));
        out.put("\",");
    }
    out.put("\"duration_ms\":");
    out.uint(c.duration_ms);
    if (c.orig && c.reply) {
        out.put(",\"orig_packets\":");
        out.uint(c.orig->packets);
        out.put(",\"orig_bytes\":");
        out.uint(c.orig->bytes);
        out.put(",\"reply_packets\":");
        out.uint(c.reply->packets);
        out.put(",\"reply_bytes\":");
        out.uint(c.reply->bytes);
    }
    out.put('}');
    if (opt.host) {
        put_string_member(out, ",\"host_ip\":", opt.host_ip);
        put_string_member(out, ",\"host_guid\":", opt.host_guid);
    }
    out.put("}}\n");
}

} // namespace netlog
