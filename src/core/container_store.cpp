// store.json text -> ContainerIndex::parse: the Cloud Foundry store read as its Go readers
// read it (store_lenient.h), with a SAX reader (no document built), one entry's fault
// costing only that entry.
#include <netlog/container.h>
#include <netlog/format.h>
#include <nlohmann/json.hpp>

#include "printable.h"
#include "store_lenient.h"

#include <fmt/format.h>

#include <memory>
#include <tuple>

namespace netlog {

namespace {

using json = nlohmann::json;

// A SAX reader: store.json -> Containers, without building a JSON document (a 100k-container
// store is ~37 MB of text; a DOM of it costs seconds and hundreds of MB).
class StoreReader {
  public:
    using string_t = json::string_t;

    std::vector<Container> containers;
    StoreReport report;
    std::string top_level_type; // set when the top level is not an object
    std::size_t error_byte = 0;
    std::string error_what;

    bool null() { return scalar("null"); }
    bool boolean(bool) { return scalar("boolean"); }
    bool number_integer(json::number_integer_t) { return scalar("number"); }
    bool number_unsigned(json::number_unsigned_t) { return scalar("number"); }
    bool number_float(json::number_float_t, const string_t &) { return scalar("number"); }
    bool binary(json::binary_t &) { return scalar("binary"); }
    bool string(string_t &s) {
        if (depth_ == 0) return top_is("string");
        if (depth_ == 1) return skip_entry("string");
        set_field(&s);
        return true;
    }

    bool start_object(std::size_t) {
        if (depth_ == 1) {
            in_entry_ = true;
            entry_ = Container{};
            ip_text_.clear();
        } else if (depth_ == 2 && in_entry_ && key_ == "metadata") {
            in_metadata_ = true;
        } else if (depth_ >= 2) {
            set_field(nullptr); // an object where a string belongs
        }
        ++depth_;
        return true;
    }
    bool end_object() {
        --depth_;
        if (depth_ == 2 && in_metadata_) {
            in_metadata_ = false;
        } else if (depth_ == 1 && in_entry_) {
            in_entry_ = false;
            finish_entry();
        }
        return true;
    }
    bool start_array(std::size_t) {
        if (depth_ == 0) return top_is("array");
        if (depth_ == 1)
            skip_entry("array");
        else
            set_field(nullptr);
        ++depth_;
        return true;
    }
    bool end_array() {
        --depth_;
        return true;
    }
    bool key(string_t &k) {
        if (depth_ == 1) {
            entry_key_ = k;
            ++report.entries;
        } else if (depth_ == 2 && in_entry_) {
            key_ = k;
        } else if (depth_ == 3 && in_metadata_) {
            md_key_ = k;
        }
        return true;
    }
    bool parse_error(std::size_t byte, const std::string &, const nlohmann::detail::exception &e) {
        error_byte = byte;
        error_what = json_reason(e.what(), store_quote_max);
        return false;
    }

  private:
    bool top_is(const char *type) {
        top_level_type = type;
        return false;
    }
    bool scalar(const char *type) {
        if (depth_ == 0) return top_is(type);
        if (depth_ == 1) return skip_entry(type);
        set_field(nullptr);
        return true;
    }
    bool skip_entry(const char *type) {
        ++report.skipped;
        warn(fmt::format("entry \"{}\": not an object ({}), skipped", entry_key_, type));
        return true;
    }
    // A value at depth 2 (entry) or 3 (metadata): a string, or nullptr for any other type.
    void set_field(string_t *s) {
        std::string *field = nullptr;
        if (depth_ == 2 && in_entry_) {
            if (key_ == "handle")
                field = &entry_.handle;
            else if (key_ == "ip")
                field = &ip_text_;
        } else if (depth_ == 3 && in_metadata_) {
            if (md_key_ == "app_id")
                field = &entry_.app_guid;
            else if (md_key_ == "space_id")
                field = &entry_.space_guid;
            else if (md_key_ == "org_id")
                field = &entry_.organization_guid;
        }
        if (!field) return;
        if (s)
            *field = std::move(*s);
        else
            field->clear();
    }
    void finish_entry() {
        if (entry_.handle.empty()) entry_.handle = entry_key_; // the store is keyed by handle
        if (entry_.handle.empty()) {
            ++report.skipped;
            warn("an entry with an empty key and no handle, skipped");
            return;
        }
        entry_.ip = ip_from_text(ip_text_);
        if (entry_.ip.family == L3::none) ++report.without_ip;
        containers.push_back(std::move(entry_));
    }
    void warn(std::string w) {
        if (report.first_warning.empty()) report.first_warning = printable(w, store_quote_max);
    }

    int depth_ = 0;
    bool in_entry_ = false, in_metadata_ = false;
    std::string entry_key_, key_, md_key_, ip_text_;
    Container entry_;
};

const char *article(std::string_view type) {
    return type == "array" ? "an" : "a";
}

} // namespace

Result<ContainerIndex> ContainerIndex::parse(std::string_view text, StoreReport *report_out) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return make_error(text.empty() ? "the file is empty (a writer may be rewriting it)"
                                       : "the file is empty (only whitespace)");
    // Go's readers take a lone UTF-16 surrogate or a byte that is not UTF-8 in a string as
    // U+FFFD; so does this one, rather than refusing every container for one bad value.
    std::string repaired;
    std::size_t first_repair = 0;
    const auto repairs = store::repair_strings(text, repaired, &first_repair);
    const std::string_view src = repairs ? std::string_view(repaired) : text;
    const auto run = [](std::string_view t, StoreReader &r) {
        try {
            return json::sax_parse(t.begin(), t.end(), &r);
        } catch (const json::exception &e) { // not expected from sax_parse; never let one escape
            r.error_byte = 0;
            r.error_what = json_reason(e.what(), store_quote_max);
            return false;
        }
    };
    auto reader = std::make_unique<StoreReader>();
    bool ok = run(src, *reader);
    // One entry that is not valid JSON costs only that entry: when the top-level object can
    // be taken apart member by member (it is complete: a half-written file is not), parse
    // again without the members that do not parse on their own.
    std::size_t malformed = 0;
    std::string malformed_warning;
    if (!ok && reader->top_level_type.empty()) {
        std::vector<store::Member> members;
        if (store::split_object(src, members)) {
            std::string rebuilt = "{";
            for (const auto &m : members) {
                if (json::accept(m.value)) {
                    if (rebuilt.size() > 1) rebuilt += ',';
                    rebuilt.append(m.key).append(":").append(m.value);
                    continue;
                }
                ++malformed;
                try { // for the reason and the place only
                    [[maybe_unused]] const auto j = json::parse(m.value);
                } catch (const json::parse_error &e) {
                    if (malformed == 1) {
                        // where in the file (the reason's own line/column count in the entry)
                        std::string why = json_reason(e.what(), store_quote_max);
                        if (const auto c = why.find(": ");
                            c != std::string::npos && why.rfind("line ", 0) == 0)
                            why.erase(0, c + 2);
                        const auto at = static_cast<std::size_t>(m.value.data() - src.data()) +
                                        (e.byte > 0 ? e.byte - 1 : 0);
                        malformed_warning = fmt::format(
                            "entry \"{}\": not valid JSON at byte {} ({}), skipped",
                            printable(m.key.substr(1, m.key.size() - 2), store_quote_max), at, why);
                    }
                } catch (const json::exception &) {}
            }
            rebuilt += '}';
            auto again = std::make_unique<StoreReader>();
            // nothing parses on its own: not a store with a bad entry, a broken store
            if (malformed && malformed < members.size() && run(rebuilt, *again)) {
                reader = std::move(again);
                ok = true;
            }
        }
    }
    if (!reader->top_level_type.empty())
        return make_error(fmt::format("the top level is {} {}, expected an object keyed by "
                                      "container handle",
                                      article(reader->top_level_type), reader->top_level_type));
    if (!ok) {
        if (reader->error_byte > text.size()) // the text stops in the middle of a value
            return make_error(fmt::format("parse error at byte {} of {}: the text ends early, "
                                          "half-written? ({})",
                                          text.size(), text.size(), reader->error_what));
        return make_error(fmt::format("parse error at byte {} of {} ({})", reader->error_byte,
                                      text.size(), reader->error_what));
    }
    reader->report.entries += malformed;
    reader->report.malformed = malformed;
    reader->report.repaired = repairs;
    if (malformed) reader->report.first_warning = malformed_warning;
    if (repairs && reader->report.first_warning.empty())
        reader->report.first_warning = fmt::format(
            "a string with a lone UTF-16 surrogate or bytes that are not UTF-8 at byte {}, "
            "read as U+FFFD",
            first_repair);
    ContainerIndex index;
    index.containers_ = std::move(reader->containers);
    // containers_ is complete: from here on its strings never move, the maps may view them.
    index.build_maps(reader->report);
    // Every event of a container carries the same container object: escape it once.
    for (auto *v : {&index.containers_, &index.apps_})
        for (auto &c : *v) {
            c.json = container_json(c);
            c.iptables_logger_json = iptables_logger_container_json(c);
        }
    if (report_out) *report_out = std::move(reader->report);
    return index;
}

} // namespace netlog
