#include "rsyslog_conf.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace netlog {

namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

// The value of `key="value"` (key case-insensitive) inside a RainerScript statement's text.
std::string_view param(std::string_view stmt, std::string_view key) {
    for (std::size_t i = 0; i + key.size() < stmt.size(); ++i) {
        if (!iequal(stmt.substr(i, key.size()), key)) continue;
        if (i > 0 && (std::isalnum(static_cast<unsigned char>(stmt[i - 1])) || stmt[i - 1] == '_'))
            continue;
        std::size_t j = i + key.size();
        while (j < stmt.size() && stmt[j] == ' ') ++j;
        if (j >= stmt.size() || stmt[j] != '=') continue;
        ++j;
        while (j < stmt.size() && stmt[j] == ' ') ++j;
        if (j >= stmt.size() || stmt[j] != '"') continue;
        const auto end = stmt.find('"', j + 1);
        if (end == std::string_view::npos) return {};
        return stmt.substr(j + 1, end - j - 1);
    }
    return {};
}

// `kern.*`, `kern,mail.info`, `*.*;kern.none`...: whether the selector names kern (and
// does not exclude it).
bool selector_names_kern(std::string_view sel) {
    std::size_t start = 0;
    bool kern = false;
    while (start <= sel.size()) {
        auto end = sel.find(';', start);
        if (end == std::string_view::npos) end = sel.size();
        const std::string_view part = sel.substr(start, end - start);
        const auto dot = part.find('.');
        if (dot != std::string_view::npos) {
            const std::string_view facilities = part.substr(0, dot), prio = part.substr(dot + 1);
            std::size_t f = 0;
            while (f <= facilities.size()) {
                auto comma = facilities.find(',', f);
                if (comma == std::string_view::npos) comma = facilities.size();
                if (iequal(facilities.substr(f, comma - f), "kern")) kern = prio != "none";
                f = comma + 1;
            }
        }
        start = end + 1;
    }
    return kern;
}

} // namespace

void rsyslog_conf_scan(std::string_view text, RsyslogConfFacts &facts) {
    std::size_t pos = 0;
    bool in_block_comment = false;
    std::string stmt; // a RainerScript statement spanning lines, up to its ')'
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (in_block_comment) {
            const auto end = line.find("*/");
            if (end == std::string_view::npos) continue;
            line = line.substr(end + 2);
            in_block_comment = false;
        }
        line = trim(line);
        // A comment block opens a line (paths hold "/*": "$IncludeConfig /etc/rsyslog.d/*.conf").
        if (stmt.empty() && line.rfind("/*", 0) == 0) {
            const auto end = line.find("*/", 2);
            if (end == std::string_view::npos) {
                in_block_comment = true;
                continue;
            }
            line = trim(line.substr(end + 2));
        }
        if (stmt.empty() && (line.empty() || line.front() == '#')) continue;

        if (!stmt.empty() || line.rfind("module(", 0) == 0 || line.rfind("module (", 0) == 0 ||
            line.rfind("include(", 0) == 0 || line.rfind("include (", 0) == 0) {
            stmt += ' ';
            stmt += line;
            if (line.find(')') == std::string_view::npos) continue;
            if (stmt.find("module") < stmt.find("include")) {
                if (iequal(param(stmt, "load"), "builtin:omfile"))
                    if (const auto t = param(stmt, "template"); !t.empty())
                        facts.default_template = std::string(t);
            } else if (const auto f = param(stmt, "file"); !f.empty()) {
                facts.includes.emplace_back(f);
            }
            stmt.clear();
            continue;
        }
        if (line.front() == '$') {
            const auto sp = line.find_first_of(" \t");
            const std::string_view name = line.substr(0, sp);
            const std::string_view value =
                sp == std::string_view::npos ? "" : trim(line.substr(sp));
            if (iequal(name, "$ActionFileDefaultTemplate"))
                facts.default_template = value;
            else if (iequal(name, "$IncludeConfig"))
                facts.includes.emplace_back(value);
            continue;
        }
        // legacy "SELECTOR  ACTION[;TEMPLATE]": a file action is "-/path" or "/path"
        const auto sp = line.find_first_of(" \t");
        if (sp == std::string_view::npos || facts.kern_action) continue;
        const std::string_view selector = line.substr(0, sp);
        std::string_view action = trim(line.substr(sp));
        if (!action.empty() && action.front() == '-') action.remove_prefix(1);
        if (action.empty() || action.front() != '/' || !selector_names_kern(selector)) continue;
        facts.kern_action = true;
        const auto semi = action.find(';');
        facts.kern_file = std::string(trim(action.substr(0, semi)));
        if (semi != std::string_view::npos) facts.kern_template = trim(action.substr(semi + 1));
    }
}

KernLogFormat rsyslog_kern_log_format(const RsyslogConfFacts &f) {
    const std::string &t = !f.kern_template.empty() ? f.kern_template : f.default_template;
    const std::string where =
        f.kern_action ? fmt::format("its kern.* file {}", f.kern_file) : std::string("its files");
    if (t.empty())
        return {KernelPrefix::rfc3339,
                fmt::format("no template set for {}: rsyslog's default RSYSLOG_FileFormat, "
                            "RFC 3339 time with microseconds",
                            where)};
    if (iequal(t, "RSYSLOG_FileFormat"))
        return {KernelPrefix::rfc3339, fmt::format("{} uses RSYSLOG_FileFormat", where)};
    if (iequal(t, "RSYSLOG_TraditionalFileFormat"))
        return {KernelPrefix::traditional,
                fmt::format("{} uses RSYSLOG_TraditionalFileFormat", where)};
    return {KernelPrefix::traditional,
            fmt::format("{} uses the template {}, which netlogd does not know: the traditional "
                        "format (set kernel_prefix: traditional or rfc3339 to choose)",
                        where, t)};
}

} // namespace netlog
