// iptables-save text -> netlog's rule model (iptables_save.h): the rules of every table,
// what each one matches and logs, and a save output normalised for comparison.
#include "iptables_save.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <unordered_map>

namespace netlog {

namespace {

struct Token {
    std::string_view raw; // as written, quotes included
    std::string value;    // unquoted, unescaped
};

// Split a save line into tokens the way iptables-restore does: blanks separate,
// double quotes group, a backslash escapes the next character.
Result<std::vector<Token>> tokenize(std::string_view line) {
    std::vector<Token> out;
    std::size_t i = 0;
    while (i < line.size()) {
        if (line[i] == ' ' || line[i] == '\t') {
            ++i;
            continue;
        }
        std::size_t start = i;
        Token t;
        bool quoted = false;
        while (i < line.size() && (quoted || (line[i] != ' ' && line[i] != '\t'))) {
            char c = line[i];
            if (c == '"') {
                quoted = !quoted;
            } else if (c == '\\' && i + 1 < line.size()) {
                t.value += line[++i];
            } else {
                t.value += c;
            }
            ++i;
        }
        if (quoted) return make_error(fmt::format("unterminated quote at column {}", start + 1));
        t.raw = line.substr(start, i - start);
        out.push_back(std::move(t));
    }
    return out;
}

// An odd number of unescaped double quotes: the quoted text goes on past this line.
bool quotes_open(std::string_view line) {
    bool open = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\')
            ++i;
        else if (line[i] == '"')
            open = !open;
    }
    return open;
}

std::string join_raw(const std::vector<Token> &tokens, std::size_t from, std::size_t to,
                     std::size_t skip_from, std::size_t skip_to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) {
        if (i >= skip_from && i < skip_to) continue;
        if (!out.empty()) out += ' ';
        out += tokens[i].raw;
    }
    return out;
}

bool parse_u16(std::string_view s, std::uint16_t &out) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v > 65535) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    return s;
}

// "[123:4567] " in front of a rule (iptables-save -c).
std::string_view strip_rule_counters(std::string_view line) {
    if (line.empty() || line.front() != '[') return line;
    auto close = line.find(']');
    if (close == std::string_view::npos) return line;
    return trim(line.substr(close + 1));
}

// A --log-level value: a number or a syslog name, as iptables' LOG extension takes it.
bool parse_level(std::string_view v, std::uint8_t &out) {
    static constexpr std::array<std::string_view, 8> names{"emerg",   "alert",  "crit", "error",
                                                           "warning", "notice", "info", "debug"};
    for (std::size_t i = 0; i < names.size(); ++i)
        if (v == names[i]) {
            out = static_cast<std::uint8_t>(i);
            return true;
        }
    if (v == "panic") return out = 0, true;
    if (v == "err") return out = 3, true;
    if (v == "warn") return out = 4, true;
    std::uint16_t n = 0;
    if (!parse_u16(v, n) || n > 7) return false;
    out = static_cast<std::uint8_t>(n);
    return true;
}

// Why the matches tokens[from, to) must not be evaluated twice ("" = they may): a second
// evaluation of these changes state other packets (or the LOG rule itself) depend on.
std::string side_effect_of(const std::vector<Token> &t, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i + 1 < to; ++i) {
        if (t[i].raw != "-m" && t[i].raw != "--match") continue;
        const std::string &m = t[i + 1].value;
        std::size_t end = i + 2;
        while (end < to && t[end].raw != "-m" && t[end].raw != "--match") ++end;
        auto has = [&](std::string_view opt) {
            for (std::size_t k = i + 2; k < end; ++k)
                if (t[k].raw == opt) return true;
            return false;
        };
        auto value = [&](std::string_view opt) -> std::string {
            for (std::size_t k = i + 2; k + 1 < end; ++k)
                if (t[k].raw == opt) return t[k + 1].value;
            return "";
        };
        if (m == "recent" && (has("--set") || has("--update") || has("--remove")))
            return fmt::format("-m recent {} writes the recent list \"{}\": a companion would "
                               "write it a second time",
                               has("--set")      ? "--set"
                               : has("--update") ? "--update"
                                                 : "--remove",
                               value("--name").empty() ? "DEFAULT" : value("--name"));
        if (m == "hashlimit")
            return fmt::format("-m hashlimit --hashlimit-name {} is a bucket shared by name: a "
                               "companion would take tokens from the LOG rule's bucket",
                               value("--hashlimit-name"));
        if (m == "quota" || m == "quota2")
            return fmt::format("-m {} counts down with each packet: a companion's own quota "
                               "would run out at other packets than the LOG rule's",
                               m);
        if (m == "statistic")
            return fmt::format("-m statistic --mode {}: a companion would pick other packets "
                               "than the LOG rule",
                               value("--mode"));
    }
    return "";
}

// "0x4", "0x4/0xffffffff", "4": a whole-mark value (a partial mask is not one).
std::optional<std::uint32_t> whole_mark(std::string_view v) {
    std::uint64_t mask = 0xffffffff;
    if (const auto slash = v.find('/'); slash != std::string_view::npos) {
        std::string_view m = v.substr(slash + 1);
        v = v.substr(0, slash);
        const int base = m.starts_with("0x") ? 16 : 10;
        if (base == 16) m.remove_prefix(2);
        auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), mask, base);
        if (ec != std::errc{} || p != m.data() + m.size()) return std::nullopt;
    }
    const int base = v.starts_with("0x") ? 16 : 10;
    if (base == 16) v.remove_prefix(2);
    std::uint64_t value = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), value, base);
    if (ec != std::errc{} || p != v.data() + v.size() || value > 0xffffffff || mask != 0xffffffff)
        return std::nullopt;
    return static_cast<std::uint32_t>(value);
}

// The mark a rule sets (-j MARK) or requires (-m mark, not negated), and its first comment.
void read_marks(const std::vector<Token> &t, FwRule &rule) {
    std::string_view module, target;
    for (std::size_t i = 2; i + 1 < t.size(); ++i) {
        const std::string_view o = t[i].raw;
        if (o == "-m" || o == "--match") {
            module = t[++i].value;
        } else if (o == "-j" || o == "--jump") {
            target = t[++i].value;
            module = {};
        } else if (o == "--comment" && module == "comment") {
            if (rule.note.empty()) rule.note = t[++i].value;
        } else if (o == "--mark" && module == "mark" && t[i - 1].raw != "!") {
            rule.mark_match = whole_mark(t[++i].value);
        } else if ((o == "--set-xmark" || o == "--set-mark") && target == "MARK") {
            rule.mark_set = whole_mark(t[++i].value);
        }
    }
}

} // namespace

Result<FwRule> iptables_rule_parse(std::string_view line, Family family, std::string_view table) {
    line = strip_rule_counters(trim(line));
    auto tokens = tokenize(line);
    if (!tokens) return tokens.error();
    const auto &t = *tokens;
    if (t.size() < 2 || t[0].raw != "-A")
        return make_error(fmt::format("not a rule (expected \"-A CHAIN ...\"): '{}'", line));

    FwRule rule;
    rule.family = family;
    rule.table = std::string(table);
    rule.chain = t[1].value;
    rule.text = std::string(line);

    // Find our owner comment and the target; everything else is a match.
    std::size_t target = t.size(), comment = t.size();
    for (std::size_t i = 2; i < t.size(); ++i) {
        if (t[i].raw == "--comment") {
            if (i >= 3 && t[i - 1].raw == "comment" && t[i - 2].raw == "-m" && i + 1 < t.size() &&
                t[i + 1].value.rfind(owner_tag_prefix, 0) == 0 && comment == t.size()) {
                comment = i - 2;
                rule.owner_class = t[i + 1].value.substr(owner_tag_prefix.size());
            }
            ++i; // the comment text is never a target
        } else if (t[i].raw == "-j" || t[i].raw == "-g") {
            target = i;
            break;
        }
    }
    std::string target_name =
        target + 1 < t.size() && t[target].raw == "-j" ? t[target + 1].value : "";

    if (target_name == "LOG" && comment == t.size()) {
        rule.kind = RuleKind::log;
        std::vector<std::string_view> opts;
        for (std::size_t i = target + 2; i < t.size(); ++i) {
            const std::string_view o = t[i].raw;
            if (o == "--log-prefix" && i + 1 < t.size()) {
                rule.log_prefix = t[++i].value;
                continue;
            }
            opts.push_back(o);
            if (o == "--log-level" && i + 1 < t.size()) {
                if (!parse_level(t[i + 1].value, rule.log_level))
                    return make_error(
                        fmt::format("bad --log-level '{}' in '{}'", t[i + 1].value, line));
                opts.push_back(t[++i].raw);
            } else if (o == "--log-tcp-sequence") {
                rule.log_flags |= log_flag_tcpseq;
            } else if (o == "--log-tcp-options") {
                rule.log_flags |= log_flag_tcpopt;
            } else if (o == "--log-ip-options") {
                rule.log_flags |= log_flag_ipopt;
            } else if (o == "--log-uid") {
                rule.log_flags |= log_flag_uid;
            } else if (o == "--log-macdecode") {
                rule.log_flags |= log_flag_macdecode;
            }
        }
        rule.log_options = fmt::format("{}", fmt::join(opts, " "));
        rule.side_effect = side_effect_of(t, 2, target);
    } else if (target_name == "NFLOG" && comment != t.size()) {
        rule.kind = RuleKind::companion;
        for (std::size_t i = target + 2; i + 1 < t.size(); ++i) {
            if (t[i].raw == "--nflog-prefix") {
                rule.log_prefix = t[++i].value;
            } else if (t[i].raw == "--nflog-group") {
                if (!parse_u16(t[++i].value, rule.group))
                    return make_error(
                        fmt::format("bad --nflog-group '{}' in '{}'", t[i].value, line));
            }
        }
    } else {
        rule.kind = RuleKind::other;
        rule.owner_class.clear();
        comment = t.size();
    }
    std::size_t skip_to = comment == t.size() ? comment : comment + 4;
    rule.match_key = join_raw(t, 2, target, comment, skip_to);
    read_marks(t, rule);
    return rule;
}

Result<Ruleset> iptables_save_parse(std::string_view text, Family family) {
    Ruleset rs;
    std::string table;
    std::unordered_map<std::string, std::size_t> chain_index; // in the current table
    std::size_t lineno = 0;
    std::string joined;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++lineno;
        if (line.empty() || line.front() == '#') continue;
        // iptables accepts a newline in a comment (-m comment --comment $'a\nb') and the save
        // tools print it raw, inside the quotes: such a rule goes on over the next lines.
        const std::size_t first_line = lineno;
        if (line.front() == '-' && quotes_open(line)) {
            joined.assign(line);
            while (quotes_open(joined) && !text.empty() && lineno - first_line < 64) {
                nl = text.find('\n');
                joined += '\n';
                joined += text.substr(0, nl);
                text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
                ++lineno;
            }
            line = trim(joined);
        }
        auto where = [&](std::string_view what) { // a rule's first line
            return make_error(fmt::format("{}-save output, line {}: {}",
                                          family == Family::ipv4 ? "iptables" : "ip6tables",
                                          first_line, what));
        };
        if (line.front() == '*') {
            table = std::string(line.substr(1));
            chain_index.clear();
        } else if (line == "COMMIT") {
            table.clear();
        } else if (table.empty()) {
            return where(fmt::format("'{}' outside a table", line));
        } else if (line.front() == ':') {
            auto sp = line.find(' ');
            std::string name(line.substr(1, sp == std::string_view::npos ? sp : sp - 1));
            if (chain_index.count(name) == 0) {
                chain_index.emplace(name, rs.chains.size());
                rs.chains.push_back(FwChain{family, table, name, {}});
            }
        } else {
            auto rule = iptables_rule_parse(line, family, table);
            if (!rule) return where(rule.error().message);
            auto it = chain_index.find(rule->chain);
            if (it == chain_index.end())
                return where(fmt::format("rule in undeclared chain '{}'", rule->chain));
            FwChain &chain = rs.chains[it->second];
            rule->handle = chain.rules.size() + 1;
            chain.rules.push_back(std::move(rule.value()));
        }
    }
    return rs;
}

std::string iptables_save_normalize(std::string_view text) {
    std::string out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!line.empty() && line.front() == '#') continue;
        if (!line.empty() && line.front() == ':') {
            auto bracket = line.rfind(" [");
            if (bracket != std::string_view::npos && line.back() == ']')
                line = line.substr(0, bracket);
        } else {
            line = strip_rule_counters(line);
        }
        out.append(line);
        out += '\n';
    }
    return out;
}

} // namespace netlog
