// A YAML syntax error in the project's words: where (FILE:LINE:COLUMN) and what to change,
// instead of yaml-cpp's internal phrasing ("end of sequence flow not found"). Used by the
// config and the rules file parsers.
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

namespace netlog {

inline std::string yaml_syntax_words(std::string_view msg) {
    namespace E = YAML::ErrorMsg;
    const auto starts = [&](std::string_view p) { return msg.substr(0, p.size()) == p; };
    if (msg == E::END_OF_MAP_FLOW)
        return "a '{' is not closed by '}' (a {key: value, ...} mapping: check its braces and commas)";
    if (msg == E::END_OF_SEQ_FLOW)
        return "a '[' is not closed by ']' (a [a, b] list: check its brackets and commas)";
    if (msg == E::END_OF_MAP || msg == E::END_OF_SEQ)
        return "this line's indentation does not fit the block above it (indent each level "
               "of a mapping or list by the same number of spaces)";
    if (msg == E::MAP_VALUE)
        return "a ':' where no key can start (quote a value that contains ': ', or check "
               "the indentation)";
    if (msg == E::BLOCK_ENTRY)
        return "a '- ' list item where a key was expected (check the indentation)";
    if (msg == E::FLOW_END) return "a ']' or '}' that closes nothing";
    if (msg == E::TAB_IN_INDENTATION) return "a tab in the indentation (YAML indents with spaces)";
    if (msg == E::EOF_IN_SCALAR || msg == E::DOC_IN_SCALAR)
        return "a quoted string is not closed (a missing ' or \")";
    if (starts(E::INVALID_ESCAPE))
        return fmt::format("an escape double quotes do not know, '\\{}' (write regular "
                           "expressions in single quotes)",
                           msg.substr(std::string_view(E::INVALID_ESCAPE).size()));
    if (msg == E::UNKNOWN_TOKEN || msg == E::CHAR_IN_SCALAR)
        return "a character that cannot stand here (quote the value)";
    if (msg == E::UNKNOWN_ANCHOR || msg == E::ALIAS_NOT_FOUND || msg == E::ANCHOR_NOT_FOUND)
        return "a '*' or '&' that names no anchor (quote the value if it starts with * or &)";
    return fmt::format("{} (yaml-cpp)", msg);
}

// "FILE:LINE:COLUMN: not valid YAML: <words>" for a syntax error; yaml-cpp's own message,
// where-prefixed, for its other exceptions.
inline std::string yaml_error_text(const YAML::Exception &e, std::string_view source) {
    const bool syntax = dynamic_cast<const YAML::ParserException *>(&e) != nullptr;
    return fmt::format("{}:{}:{}: {}{}", source, e.mark.line + 1, e.mark.column + 1,
                       syntax ? "not valid YAML: " : "", syntax ? yaml_syntax_words(e.msg) : e.msg);
}

} // namespace netlog
