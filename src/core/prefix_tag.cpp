#include <netlog/prefix_tag.h>

namespace netlog {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

} // namespace

bool prefix_has_tag_shape(std::string_view p) {
    if (p.size() < prefix_tag_size) return false;
    std::string_view t = p.substr(p.size() - prefix_tag_size);
    return t.substr(0, 3) == "~nl" && t[3] >= '0' && t[3] <= '7' && hex_digit(t[4]) >= 0 &&
           hex_digit(t[5]) >= 0;
}

bool prefix_tag_needed(const LogOptions &o) {
    return o.level != log_default_level || o.flags != 0 || prefix_has_tag_shape(o.prefix);
}

std::string prefix_tag_add(const LogOptions &o) {
    if (!prefix_tag_needed(o)) return o.prefix;
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = o.prefix;
    out += "~nl";
    out += static_cast<char>('0' + (o.level & 7));
    out += digits[(o.flags >> 4) & 15];
    out += digits[o.flags & 15];
    return out;
}

// prefix_tag_split() past its one-byte check.
LogOptionsView prefix_tag_split_shaped(std::string_view p) {
    LogOptionsView o;
    o.prefix = p;
    if (!prefix_has_tag_shape(p)) return o;
    std::string_view t = p.substr(p.size() - prefix_tag_size);
    o.prefix = p.substr(0, p.size() - prefix_tag_size);
    o.level = static_cast<std::uint8_t>(t[3] - '0');
    o.flags = static_cast<std::uint8_t>(hex_digit(t[4]) * 16 + hex_digit(t[5]));
    return o;
}

LogOptions prefix_tag_strip(std::string_view p) {
    const LogOptionsView v = prefix_tag_split(p);
    return LogOptions{std::string(v.prefix), v.level, v.flags};
}

} // namespace netlog
