// String repair and member split for the CF store (store_lenient.h).
#include "store_lenient.h"

#include <cstdint>

namespace netlog::store {

namespace {

constexpr std::string_view replacement_utf8 = "\xEF\xBF\xBD"; // U+FFFD

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The code unit of a \uXXXX escape at `p` (p[0] == '\\'), or -1.
long escape_unit(std::string_view s, std::size_t p) {
    if (p + 6 > s.size() || s[p] != '\\' || s[p + 1] != 'u') return -1;
    long v = 0;
    for (std::size_t i = p + 2; i < p + 6; ++i) {
        const int h = hex(s[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

// Length of the valid UTF-8 sequence at `p`, or 0 (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF).
std::size_t utf8_len(std::string_view s, std::size_t p) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(p);
    const auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return i < s.size() && b(i) >= lo && b(i) <= hi;
    };
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(p + 1) ? 2 : 0;
    if (c == 0xE0) return cont(p + 1, 0xA0) && cont(p + 2) ? 3 : 0;
    if (c == 0xED) return cont(p + 1, 0x80, 0x9F) && cont(p + 2) ? 3 : 0;
    if (c >= 0xE1 && c <= 0xEF) return cont(p + 1) && cont(p + 2) ? 3 : 0;
    if (c == 0xF0) return cont(p + 1, 0x90) && cont(p + 2) && cont(p + 3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return cont(p + 1) && cont(p + 2) && cont(p + 3) ? 4 : 0;
    if (c == 0xF4) return cont(p + 1, 0x80, 0x8F) && cont(p + 2) && cont(p + 3) ? 4 : 0;
    return 0;
}

// From the opening quote at `p`: the index just past the closing quote, or npos.
std::size_t skip_string(std::string_view s, std::size_t p) {
    for (std::size_t i = p + 1; i < s.size(); ++i) {
        if (s[i] == '\\')
            ++i;
        else if (s[i] == '"')
            return i + 1;
    }
    return std::string_view::npos;
}

std::size_t skip_ws(std::string_view s, std::size_t p) {
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
    return p;
}

} // namespace

std::size_t repair_strings(std::string_view in, std::string &out, std::size_t *first_byte) {
    std::size_t replaced = 0, copied = 0; // in[copied, i) is still to be copied to out
    const auto replace = [&](std::size_t from, std::size_t to, std::string_view with) {
        if (replaced++ == 0) {
            out.clear();
            out.reserve(in.size() + 16);
            if (first_byte) *first_byte = from;
        }
        out.append(in.substr(copied, from - copied));
        out.append(with);
        copied = to;
    };
    bool in_string = false;
    for (std::size_t i = 0; i < in.size();) {
        const char c = in[i];
        if (!in_string) {
            in_string = c == '"';
            ++i;
            continue;
        }
        if (c == '"') {
            in_string = false;
            ++i;
        } else if (c == '\\') {
            const long u = escape_unit(in, i);
            if (u >= 0xD800 && u <= 0xDBFF) {
                const long low = escape_unit(in, i + 6);
                if (low >= 0xDC00 && low <= 0xDFFF) {
                    i += 12; // a pair: nlohmann decodes it
                } else {
                    replace(i, i + 6, "\\ufffd");
                    i += 6;
                }
            } else if (u >= 0xDC00 && u <= 0xDFFF) {
                replace(i, i + 6, "\\ufffd");
                i += 6;
            } else {
                i += 2; // any other escape, checked by the parser
            }
        } else if (static_cast<unsigned char>(c) >= 0x80) {
            const auto n = utf8_len(in, i);
            if (n == 0) {
                replace(i, i + 1, replacement_utf8);
                ++i;
            } else {
                i += n;
            }
        } else {
            ++i;
        }
    }
    if (replaced) out.append(in.substr(copied));
    return replaced;
}

bool split_object(std::string_view s, std::vector<Member> &members) {
    members.clear();
    std::size_t p = skip_ws(s, 0);
    if (p >= s.size() || s[p] != '{') return false;
    p = skip_ws(s, p + 1);
    if (p < s.size() && s[p] == '}') return skip_ws(s, p + 1) == s.size();
    for (;;) {
        if (p >= s.size() || s[p] != '"') return false;
        const auto key_end = skip_string(s, p);
        if (key_end == std::string_view::npos) return false;
        Member m;
        m.key = s.substr(p, key_end - p);
        p = skip_ws(s, key_end);
        if (p >= s.size() || s[p] != ':') return false;
        p = skip_ws(s, p + 1);
        const auto start = p;
        int depth = 0;
        for (; p < s.size(); ++p) {
            const char c = s[p];
            if (c == '"') {
                p = skip_string(s, p);
                if (p == std::string_view::npos) return false;
                --p;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (depth == 0) break;
                --depth;
            } else if (c == ',' && depth == 0) {
                break;
            }
        }
        if (p >= s.size()) return false; // the object never closes: truncated
        auto end = p;
        while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\n' ||
                               s[end - 1] == '\r'))
            --end;
        m.value = s.substr(start, end - start);
        members.push_back(m);
        if (s[p] == '}') return skip_ws(s, p + 1) == s.size();
        if (s[p] != ',') return false; // a ']' at depth 0
        p = skip_ws(s, p + 1);
    }
}

} // namespace netlog::store
