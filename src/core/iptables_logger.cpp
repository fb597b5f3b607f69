// Cloud Foundry iptables-logger compatible JSON (facts/cloudfoundry.md §4). The real program
// reads kern.log: it splits each line at white space, keeps the FIRST value of every
// KEY=value word, and writes them through Go's encoding/json with a Go map for `data`. So
// the packet fields here are read the same way from the kernel's own text for the event
// (format_klog, the same text kern.log holds): an ICMP error gets the ports the kernel
// printed inside its brackets, an IPv6 address the kernel's uncompressed form, a fragment
// no ports; and a prefix with KEY=value words in it shadows the kernel's, as it did there.
#include "text_append.h"

#include <netlog/format.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace netlog {

namespace {

// The keys iptables-logger's parser reads, in the order of the fields below.
enum Key : std::uint8_t { k_src, k_dst, k_spt, k_dpt, k_proto, k_mark, k_type, k_code, k_count };
constexpr std::array<std::string_view, k_count> key_names = {"SRC",   "DST",  "SPT",  "DPT",
                                                             "PROTO", "MARK", "TYPE", "CODE"};

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
            return (b(2) >= 0x80 && b(2) <= 0x8A) || b(2) == 0xA8 || b(2) == 0xA9 ||
                           b(2) == 0xAF
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

LineFields line_fields(std::string_view line) {
    LineFields f;
    std::size_t left = k_count;
    std::size_t i = 0;
    while (i < line.size() && left) {
        if (const std::size_t sp = go_space(line, i)) {
            i += sp;
            continue;
        }
        const std::size_t start = i;
        while (i < line.size() && !go_space(line, i))
            ++i;
        const std::string_view word = line.substr(start, i - start);
        const std::size_t eq = word.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string_view key = word.substr(0, eq);
        for (std::size_t k = 0; k < k_count; ++k)
            if (!f.seen[k] && key == key_names[k]) {
                f.seen[k] = true;
                f.value[k] = word.substr(eq + 1);
                --left;
                break;
            }
    }
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

void put_go_string(text::Out &out, std::string_view key_and_colon, std::string_view value) {
    out.put(key_and_colon);
    out.put('"');
    text::json_escape_go(value, out);
    out.put('"');
}

// 2024-05-03T23:35:07.123456789Z (UTC; days to civil date after H. Hinnant's algorithm).
void put_rfc3339(text::Out &out, const Timestamp &t) {
    std::int64_t days = t.sec / 86400;
    std::int64_t secs = t.sec % 86400;
    if (secs < 0) {
        secs += 86400;
        days -= 1;
    }
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const auto d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
    const auto m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
    const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);

    if (y >= 0 && y < 10000) {
        out.two(static_cast<unsigned>(y / 100));
        out.two(static_cast<unsigned>(y % 100));
    } else {
        out.sint(y);
    }
    out.put('-');
    out.two(m);
    out.put('-');
    out.two(d);
    out.put('T');
    out.two(static_cast<unsigned>(secs / 3600));
    out.put(':');
    out.two(static_cast<unsigned>(secs / 60 % 60));
    out.put(':');
    out.two(static_cast<unsigned>(secs % 60));
    out.fraction9(t.nsec);
    out.put('Z');
}

// parser.ParsedData (a struct: fields in declaration order).
void put_packet(text::Out &out, const Event &ev, const LineFields &f) {
    out.put("\"packet\":{\"direction\":\"");
    out.put(to_string(ev.direction));
    out.put(ev.verdict == Verdict::allowed ? "\",\"allowed\":true" : "\",\"allowed\":false");
    put_go_string(out, ",\"src_ip\":", f.value[k_src]);
    put_go_string(out, ",\"dst_ip\":", f.value[k_dst]);
    out.put(",\"src_port\":");
    out.sint(go_atoi(f.value[k_spt]));
    out.put(",\"dst_port\":");
    out.sint(go_atoi(f.value[k_dpt]));
    put_go_string(out, ",\"protocol\":", f.value[k_proto]);
    put_go_string(out, ",\"mark\":", f.value[k_mark]);
    out.put(",\"icmp_type\":");
    out.sint(go_atoi(f.value[k_type]));
    out.put(",\"icmp_code\":");
    out.sint(go_atoi(f.value[k_code]));
    out.put('}');
}

// repository.Container with the host fields (a struct).
void put_container(text::Out &out, std::string_view key, const Container *c,
                   const IptablesLoggerOptions &opt) {
    static const Container unknown{};
    const Container &k = c ? *c : unknown;
    out.put(key);
    put_go_string(out, "{\"container_id\":", k.handle);
    put_go_string(out, ",\"app_guid\":", k.app_guid);
    put_go_string(out, ",\"space_guid\":", k.space_guid);
    put_go_string(out, ",\"organization_guid\":", k.organization_guid);
    put_go_string(out, ",\"host_ip\":", opt.host_ip);
    put_go_string(out, ",\"host_guid\":", opt.host_guid);
    out.put('}');
}

} // namespace

void format_iptables_logger(const Event &ev, const IptablesLoggerOptions &opt, std::string &str) {
    // The kernel's line goes where the JSON will, is read, and is then written over: the
    // caller's buffer is the only memory used.
    const std::size_t start = str.size();
    format_klog(ev, str);
    const std::size_t json_at = str.size();
    LineFields f = line_fields(std::string_view(str).substr(start, json_at - start));
    // Appending the JSON may move the buffer: the values move to the stack first. The
    // kernel's text is at most 1016 bytes, each byte at most 4 once escaped (\xNN).
    std::array<char, 4 * 1024> copy;
    std::size_t used = 0;
    for (auto &v : f.value) {
        const std::size_t n = std::min(v.size(), copy.size() - used);
        if (n) std::memcpy(copy.data() + used, v.data(), n);
        v = std::string_view(copy.data() + used, n);
        used += n;
    }
    {
        text::Out out(str);
        const bool rfc3339 = opt.time_style == IptablesLoggerOptions::TimeStyle::rfc3339;
        out.put("{\"timestamp\":\"");
        if (rfc3339) {
            put_rfc3339(out, ev.time);
            out.put("\",\"level\":\"info");
        } else {
            out.epoch(ev.time);
        }
        out.put("\",\"source\":\"cfnetworking.iptables\",\"message\":\"cfnetworking.iptables.");
        out.put(to_string(ev.direction));
        out.put('-');
        out.put(to_string(ev.verdict));
        out.put(rfc3339 ? "\",\"data\":{" : "\",\"log_level\":1,\"data\":{");
        // data is a Go map: its keys come out sorted (destination < packet < source).
        if (ev.direction == Direction::ingress) {
            put_container(out, "\"destination\":", ev.container, opt);
            out.put(',');
            put_packet(out, ev, f);
        } else {
            put_packet(out, ev, f);
            put_container(out, ",\"source\":", ev.container, opt);
        }
        out.put("}}\n");
    }
    // The kernel's line has served: only the JSON stays.
    str.erase(start, json_at - start);
}

} // namespace netlog
