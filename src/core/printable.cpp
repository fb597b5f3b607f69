// printable.h: outside text made safe to quote in a message.
#include "printable.h"

#include <fmt/format.h>

namespace netlog {

std::string printable(std::string_view s, std::size_t max) {
    std::string out;
    for (const char ch : s) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out.push_back(ch);
    }
    return out;
}

std::string json_reason(const char *what, std::size_t max) {
    std::string_view w(what);
    if (auto p = w.find("] "); p != std::string_view::npos) w.remove_prefix(p + 2);
    if (w.starts_with("parse error at ")) w.remove_prefix(15);
    return printable(w, max);
}

} // namespace netlog
