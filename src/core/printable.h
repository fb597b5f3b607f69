// Text from outside (the store, a container engine's answers) as it goes into a message:
// control bytes and bytes >= 0x80 as \xNN, bounded, so that nothing read reaches a
// terminal or a log line raw (an ESC, a newline, invalid UTF-8 in a journal).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace netlog {

// How much of the metadata store's text a message quotes (names, keys, parse errors).
inline constexpr std::size_t store_quote_max = 240;

// At most `max` bytes of `s` (then "..."), escaped as above.
std::string printable(std::string_view s, std::size_t max);

// nlohmann::json's exception text without its tag, printable:
// "[json.exception.parse_error.101] parse error at line 1, column 2: x" -> "line 1, column 2: x"
std::string json_reason(const char *what, std::size_t max);

} // namespace netlog
