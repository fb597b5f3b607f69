// Text cut into lines and whitespace-separated fields, and whole fields read as numbers: what
// the /proc parsers and metrics_parse read their input with.
#pragma once

#include <charconv>
#include <string_view>
#include <system_error>
#include <vector>

namespace netlog::metrics_text {

inline std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const auto start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

template <class T> bool num(std::string_view s, T &v, int base = 10) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v, base);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

template <class F> void for_each_line(std::string_view text, F f) {
    while (!text.empty()) {
        const auto nl = text.find('\n');
        f(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

} // namespace netlog::metrics_text
