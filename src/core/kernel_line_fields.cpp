// What iptables-logger's parser reads from a kernel LOG line (kernel_line_fields.h).
#include "kernel_line_fields.h"

#include <netlog/packet.h>
#include <netlog/prefix_tag.h>

#include <array>
#include <cstring>

namespace netlog {

namespace {

// The keys iptables-logger's parser reads.
enum Key : std::uint8_t { k_src, k_dst, k_spt, k_dpt, k_proto, k_mark, k_type, k_code, k_count };

// Go's unicode.IsSpace at s[i] (what strings.Fields splits at): the byte length of the
// white-space character there, or 0. ASCII \t \n \v \f \r and space; U+0085, U+00A0,
// U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 in UTF-8.
std::size_t go_space(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) {
        return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
    };
    const unsigned c = b(0);
    if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
    if (c < 0x80) return 0;
    if (c == 0xC2) return b(1) == 0x85 || b(1) == 0xA0 ? 2 : 0;
    if (c == 0xE1) return b(1) == 0x9A && b(2) == 0x80 ? 3 : 0;
    if (c == 0xE2) {
        if (b(1) == 0x80)
            return (b(2) >= 0x80 && b(2) <= 0x8A) || b(2) == 0xA8 || b(2) == 0xA9 || b(2) == 0xAF
                       ? 3
                       : 0;
        return b(1) == 0x81 && b(2) == 0x9F ? 3 : 0;
    }
    if (c == 0xE3) return b(1) == 0x80 && b(2) == 0x80 ? 3 : 0;
    return 0;
}

// The first value of each key among the KEY=value words of `line` (strings.Fields, then
// the text before the word's first '=' is its key).
struct LineFields {
    std::array<std::string_view, k_count> value{};
    std::array<bool, k_count> seen{};
};

// ASCII white space as unicode.IsSpace sees it: \t \n \v \f \r and space.
constexpr std::array<bool, 128> make_ascii_space() {
    std::array<bool, 128> t{};
    for (char c : {' ', '\t', '\n', '\v', '\f', '\r'}) t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr auto ascii_space = make_ascii_space();

// White space at s[i]: its length (fast for ASCII, go_space() for the rest).
std::size_t space_at(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return ascii_space[c] ? 1 : 0;
    return go_space(s, i);
}

// The key's index in key_names, or k_count.
std::size_t key_index(std::string_view key) {
    switch (key.size()) {
    case 3:
        if (key == "SRC") return k_src;
        if (key == "DST") return k_dst;
        if (key == "SPT") return k_spt;
        if (key == "DPT") return k_dpt;
        return k_count;
    case 4:
        if (key == "MARK") return k_mark;
        if (key == "TYPE") return k_type;
        if (key == "CODE") return k_code;
        return k_count;
    case 5: return key == "PROTO" ? k_proto : k_count;
    default: return k_count;
    }
}

// Whether every byte is printable ASCII or a space (then a space is the only separator):
// the kernel's text always is, unless a prefix or an interface name brings bytes >= 0x80
// (control bytes are already \xNN in format_klog's text).
bool plain_ascii(std::string_view s) {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t v;
        std::memcpy(&v, s.data() + i, 8);
        if (((v & highs) | ((v - ones * 0x20) & ~v & highs)) != 0) return false;
    }
    for (; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c >= 0x80) return false;
    }
    return true;
}

// Calls f(word) for each word of `line` as Go's strings.Fields splits it, until f is
// false.
template <class F> void for_each_field(std::string_view line, F &&f) {
    const std::size_t n = line.size();
    std::size_t i = 0;
    if (plain_ascii(line)) {
        while (i < n) {
            if (line[i] == ' ') {
                ++i;
                continue;
            }
            const void *sp = std::memchr(line.data() + i, ' ', n - i);
            const std::size_t end =
                sp ? static_cast<std::size_t>(static_cast<const char *>(sp) - line.data()) : n;
            if (!f(line.substr(i, end - i))) return;
            i = end;
        }
        return;
    }
    while (i < n) {
        if (const std::size_t sp = space_at(line, i)) {
            i += sp;
            continue;
        }
        const std::size_t start = i;
        while (i < n && !space_at(line, i)) ++i;
        if (!f(line.substr(start, i - start))) return;
    }
}

LineFields line_fields(std::string_view line) {
    LineFields f;
    std::size_t left = k_count;
    for_each_field(line, [&](std::string_view word) {
        const auto eq = word.find('=');
        if (eq == std::string_view::npos) return true;
        const std::size_t k = key_index(word.substr(0, eq));
        if (k == k_count || f.seen[k]) return true;
        f.seen[k] = true;
        f.value[k] = word.substr(eq + 1);
        return --left > 0;
    });
    return f;
}

// Go's strconv.Atoi, 0 on any error (what the parser falls back to): an optional sign and
// decimal digits within int64.
std::int64_t go_atoi(std::string_view s) {
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s.empty()) return 0;
    std::uint64_t v = 0;
    const std::uint64_t limit = neg ? 9223372036854775808ull : 9223372036854775807ull;
    for (const char c : s) {
        if (c < '0' || c > '9') return 0;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (limit - d) / 10) return 0; // out of range: an error
        v = v * 10 + d;
    }
    return neg ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
}

} // namespace

KernelLineFields kernel_line_fields_read(std::string_view line) {
    const LineFields l = line_fields(line);
    KernelLineFields f;
    f.src = l.value[k_src];
    f.dst = l.value[k_dst];
    f.proto = l.value[k_proto];
    f.mark = l.value[k_mark];
    f.spt = go_atoi(l.value[k_spt]);
    f.dpt = go_atoi(l.value[k_dpt]);
    f.type = go_atoi(l.value[k_type]);
    f.code = go_atoi(l.value[k_code]);
    return f;
}

namespace {

std::uint16_t be16(const std::uint8_t *p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

// %pI6: eight groups of four lowercase hex digits.
std::size_t ip6_full(const std::uint8_t *a, char *out) {
    static constexpr char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; ++i) {
        if (i && i % 2 == 0) *p++ = ':';
        *p++ = hex[a[i] >> 4];
        *p++ = hex[a[i] & 15];
    }
    return static_cast<std::size_t>(p - out);
}

// Words the fields could come from before the kernel's own: a prefix with no '=' and no
// white space but ASCII spaces gives none (its last word joins "IN=", a key no field has),
// nor do interface names without white space of any kind.
bool plain_text(std::string_view s, bool allow_space) {
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x21 || c >= 0x7f || c == '=') {
            if (c == ' ' && allow_space) continue;
            return false;
        }
    }
    return true;
}

} // namespace

bool kernel_line_fields_known(const Event &ev, KernelLineFields &f, KernelLineBuffer &buf) {
    // Only what dump_ipv4_packet()/dump_ipv6_packet() print the same way for every packet
    // of the kind, in a line far from the 1 KiB cut: IPv4, or IPv6 without extension
    // headers; TCP, UDP, UDP-Lite, or ICMP/ICMPv6 other than the errors (those quote a
    // packet, whose ports come first); without --log-tcp-options/--log-ip-options (an
    // option cut by the capture ends the line early).
    if (!ev.msg || (ev.log_flags & (log_flag_tcpopt | log_flag_ipopt))) return false;
    if (ev.prefix.size() > 200 || ev.msg->hwheader.size() > 64) return false;
    if (!plain_text(ev.prefix, true) || !plain_text(ev.in_name, false) ||
        !plain_text(ev.out_name, false) || !plain_text(ev.physin_name, false) ||
        !plain_text(ev.physout_name, false))
        return false;
    constexpr std::uint8_t af_inet = 2, af_inet6 = 10;
    const Bytes b = ev.msg->payload;
    const std::uint8_t *p = b.data();
    const bool v4 = ev.msg->family == af_inet, v6 = ev.msg->family == af_inet6;
    if ((!v4 && !v6) || b.size() < (v4 ? 20u : 40u) || (p[0] >> 4) != (v4 ? 4 : 6)) return false;
    // skb->len as format_klog takes it (the IP header's length), and skb_header_pointer():
    // n bytes at `at` within the packet and within the capture.
    const std::uint32_t cap = static_cast<std::uint32_t>(b.size());
    const std::uint32_t stated = v4 ? be16(p + 2) : (be16(p + 4) ? be16(p + 4) + 40u : 0u);
    const std::uint32_t len = stated ? stated : cap;
    const auto have = [&](std::uint32_t at, std::uint32_t n) {
        return at <= len && n <= len - at && at <= cap && n <= cap - at;
    };
    if (!have(0, v4 ? 20 : 40)) return false; // "TRUNCATED"
    std::uint32_t off = 40;                   // the transport header
    std::uint8_t proto = p[6];
    bool fragment = false;
    if (v4) {
        off = static_cast<std::uint32_t>(p[0] & 15) * 4;
        if (off < 20) return false;
        fragment = (be16(p + 6) & 0x1fff) != 0;
        proto = p[9];
        f.src = std::string_view(
            buf.src, ip_to_text(IpAddress{L3::ipv4, {p[12], p[13], p[14], p[15]}}, buf.src));
        f.dst = std::string_view(
            buf.dst, ip_to_text(IpAddress{L3::ipv4, {p[16], p[17], p[18], p[19]}}, buf.dst));
    } else {
        f.src = std::string_view(buf.src, ip6_full(p + 8, buf.src));
        f.dst = std::string_view(buf.dst, ip6_full(p + 24, buf.dst));
    }
    bool marked = true; // the line goes on to MARK= (no early return)
    switch (proto) {
    case 6:
    case 17:
    case 136: {
        f.proto = proto == 6 ? "TCP" : proto == 17 ? "UDP" : "UDPLITE";
        if (fragment) break;
        if (!have(off, proto == 6 ? 20 : 8)) {
            marked = false; // "INCOMPLETE [n bytes]", and the kernel returns
            break;
        }
        f.spt = be16(p + off);
        f.dpt = be16(p + off + 2);
        break;
    }
    case 1:
        if (!v4) return false; // PROTO=1 in IPv6
        f.proto = "ICMP";
        if (fragment || !have(off, 8)) break;
        if (p[off] == 3 || p[off] == 4 || p[off] == 5 || p[off] == 11) return false;
        f.type = p[off];
        f.code = p[off + 1];
        break;
    case 58:
        if (!v6) return false; // PROTO=58 in IPv4
        f.proto = "ICMPv6";
        if (!have(off, 8)) {
            marked = false; // IPv6: INCOMPLETE returns
            break;
        }
        if (p[off] >= 1 && p[off] <= 4) return false;
        f.type = p[off];
        f.code = p[off + 1];
        break;
    default: return false;
    }
    if (marked && ev.msg->mark && *ev.msg->mark) {
        static constexpr char hex[] = "0123456789abcdef";
        char tmp[8];
        int n = 0;
        for (std::uint32_t v = *ev.msg->mark; v; v >>= 4) tmp[n++] = hex[v & 15];
        char *o = buf.mark;
        *o++ = '0';
        *o++ = 'x';
        while (n) *o++ = tmp[--n];
        f.mark = std::string_view(buf.mark, static_cast<std::size_t>(o - buf.mark));
    }
    return true;
}

} // namespace netlog
