// An ECS document's metadata fields: the container (Docker/Podman name, image and labels, or
// the CF store's handle), Cloud Foundry's app, space and org, and the host.
#include "ecs_doc.h"

namespace netlog::ecs_doc {

namespace {

// The Docker/Podman fields of a container, when the metadata source has them (the CF
// store has none): read only if Container has the members, so that this file compiles
// with and without them.
template <class C> std::string_view engine_name(const C &c) {
    if constexpr (requires { std::string_view(c.name); })
        return c.name;
    else
        return {};
}
template <class C> std::string_view engine_image(const C &c) {
    if constexpr (requires { std::string_view(c.image); })
        return c.image;
    else
        return {};
}
template <class C> bool engine_has_labels(const C &c) {
    if constexpr (requires { c.labels.empty(); })
        return !c.labels.empty();
    else
        return false;
}
// A label key as Beats' add_docker_metadata writes it (labels.dedot): '.' would make
// Elasticsearch nest "com.docker.compose.project" into objects and clash with a label
// "com"; '_' keeps each label one keyword.
[[maybe_unused]] void put_dedotted_key(text::Out &o, std::string_view k) {
    o.put('"');
    std::size_t start = 0;
    for (;;) {
        const auto dot = k.find('.', start);
        text::json_escape(k.substr(start, dot == std::string_view::npos ? dot : dot - start), o);
        if (dot == std::string_view::npos) break;
        o.put('_');
        start = dot + 1;
    }
    o.put('"');
}
template <class C> void put_engine_labels(Doc &d, const C &c) {
    if constexpr (requires {
                      c.labels.begin()->first;
                      c.labels.begin()->second;
                  }) {
        d.open("labels");
        bool first = true;
        for (const auto &[k, v] : c.labels) {
            if (!first) d.out().put(',');
            first = false;
            put_dedotted_key(d.out(), k);
            d.out().put(':');
            text::json_string(v, d.out());
        }
        d.close();
    }
}

} // namespace

void put_container(Doc &d, const Container *c) {
    if (!c) return;
    const bool engine =
        !engine_name(*c).empty() || !engine_image(*c).empty() || engine_has_labels(*c);
    if (!c->handle.empty() || engine) {
        d.open("container");
        d.str("id", c->handle);
        d.str("name", engine_name(*c));
        if (const auto image = engine_image(*c); !image.empty()) {
            d.open("image");
            d.str("name", image);
            d.close();
        }
        if (engine_has_labels(*c)) put_engine_labels(d, *c);
        d.close();
    }
    if (!c->app_guid.empty() || !c->space_guid.empty() || !c->organization_guid.empty()) {
        d.open("cloudfoundry");
        for (const auto &[k, v] :
             {std::pair<std::string_view, std::string_view>{"app", c->app_guid},
              {"space", c->space_guid},
              {"org", c->organization_guid}}) {
            if (v.empty()) continue;
            d.open(k);
            d.str("id", v);
            d.close();
        }
        d.close();
        d.open("orchestrator");
        d.raw("type", "\"cloudfoundry\"");
        d.close();
    }
}

void put_host(Doc &d, const EcsOptions &opt) {
    const IpAddress hip = ip_from_text(opt.host_ip);
    if (hip.family == L3::none && opt.host_guid.empty()) return;
    d.open("host");
    if (hip.family != L3::none) {
        d.key("ip");
        d.out().put("[\"");
        d.out().ip(hip);
        d.out().put("\"]");
    }
    d.str("id", opt.host_guid);
    d.close();
}

} // namespace netlog::ecs_doc
