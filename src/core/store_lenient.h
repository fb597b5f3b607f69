// The CF store read as leniently as its Go readers (encoding/json) read it: a lone UTF-16
// surrogate escape or a byte that is not UTF-8 inside a string becomes U+FFFD instead of
// failing the whole file, and the top-level object can be taken apart member by member so
// that an entry that is not valid JSON costs only that entry. Internal to container.cpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace netlog::store {

// `in` with every lone surrogate escape (\uD800-\uDFFF not in a high+low pair) written
// \uFFFD and every invalid UTF-8 sequence inside a string written as U+FFFD's bytes,
// one per bad byte, as Go's decoder does. Returns how many were replaced; `out` is
// filled only when that is not 0. Text outside strings is copied as it is.
std::size_t repair_strings(std::string_view in, std::string &out,
                           std::size_t *first_byte = nullptr);

struct Member {
    std::string_view key;   // the key's JSON string, quotes included
    std::string_view value; // the value's text, surrounding whitespace excluded
};

// The members of a top-level JSON object, split at the commas between them (strings and
// nesting respected; the values themselves are not checked). False when `text` is not one
// object closed by its final '}' (a truncated, half-written file is never taken apart).
bool split_object(std::string_view text, std::vector<Member> &members);

} // namespace netlog::store
