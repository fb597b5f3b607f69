// The ECS document's writer (one JSON object level by level, with the commas) and the parts
// of a document built in their own files: the metadata fields and the iptables.* fields.
#pragma once

#include "text_append.h"

#include <netlog/ecs.h>

namespace netlog::ecs_doc {

// Writes one JSON object level by level, with the commas between members.
class Doc {
  public:
    explicit Doc(text::Out &o) : o_(o) {}
    void key(std::string_view k) {
        if (!first_) o_.put(',');
        first_ = false;
        o_.put('"');
        o_.put(k);
        o_.put("\":");
    }
    void open(std::string_view k) {
        key(k);
        o_.put('{');
        first_ = true;
    }
    void close() {
        o_.put('}');
        first_ = false;
    }
    void str(std::string_view k, std::string_view v) { // absent when empty
        if (v.empty()) return;
        key(k);
        text::json_string(v, o_);
    }
    void raw(std::string_view k, std::string_view json) {
        key(k);
        o_.put(json);
    }
    void num(std::string_view k, std::uint64_t v) {
        key(k);
        o_.uint(v);
    }
    void ip(std::string_view k, const IpAddress &a) {
        key(k);
        o_.put('"');
        o_.ip(a);
        o_.put('"');
    }
    text::Out &out() { return o_; }

  private:
    text::Out &o_;
    bool first_ = true;
};

// container.*, cloudfoundry.*, orchestrator.type (ecs_metadata.cpp).
void put_container(Doc &d, const Container *c);
// host.ip, host.id (ecs_metadata.cpp).
void put_host(Doc &d, const EcsOptions &opt);
// iptables.*, the names Filebeat's iptables module gives the packet's details (ecs_iptables.cpp).
void put_iptables(Doc &d, const Event &ev, Bytes eth);

} // namespace netlog::ecs_doc
