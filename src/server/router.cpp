#include "aiclient/server/router.hpp"

#include <algorithm>

#include "aiclient/config/settings.hpp"
#include "aiclient/util/strings.hpp"

namespace aiclient::server {

using protocol::wire_protocol;

std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

route match_route(std::string_view method, std::string_view path, bool anthropic_client) {
  route r;
  // Provider prefix: "/<type>/..." where <type> is a known provider type.
  if (path.size() > 1) {
    const auto slash = path.find('/', 1);
    const std::string_view first =
        path.substr(1, slash == std::string_view::npos ? path.npos : slash - 1);
    const auto& known = config::known_provider_types();
    if (std::find(known.begin(), known.end(), first) != known.end()) {
      r.provider = std::string(first);
      path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
  }
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  const auto expect = [&](endpoint ep, wire_protocol p, std::string_view m) {
    r.ep = ep;
    r.proto = p;
    r.allowed_method = m;
    r.method_allowed = method == m || (m == "GET" && method == "HEAD");
  };
  if (path == "/v1/chat/completions" || path == "/chat/completions") {
    expect(endpoint::chat_completions, wire_protocol::openai, "POST");
  } else if (path == "/v1/messages") {
    expect(endpoint::messages, wire_protocol::claude, "POST");
  } else if (path == "/v1/messages/count_tokens") {
    expect(endpoint::count_tokens, wire_protocol::claude, "POST");
  } else if (path == "/v1/models" || path == "/models") {
    expect(endpoint::models, anthropic_client ? wire_protocol::claude : wire_protocol::openai,
           "GET");
  } else if (path == "/health") {
    expect(endpoint::health, wire_protocol::openai, "GET");
  } else if (path == "/provider_health") {
    expect(endpoint::provider_health, wire_protocol::openai, "GET");
  } else if (path == "/admin" || path.rfind("/admin/", 0) == 0) {
    r.ep = endpoint::admin;  // the admin handler checks methods itself
    r.proto = wire_protocol::openai;
  } else if (path == "/v1beta/models") {
    expect(endpoint::gemini_models, wire_protocol::gemini, "GET");
  } else if (path.rfind("/v1beta/models/", 0) == 0) {
    const std::string_view rest = path.substr(15);
    const auto colon = rest.rfind(':');
    r.proto = wire_protocol::gemini;
    if (colon != std::string_view::npos && colon > 0) {
      const std::string_view verb = rest.substr(colon + 1);
      r.gemini_model = util::percent_decode(rest.substr(0, colon));
      if (verb == "generateContent")
        expect(endpoint::gemini_generate, wire_protocol::gemini, "POST");
      else if (verb == "streamGenerateContent")
        expect(endpoint::gemini_stream, wire_protocol::gemini, "POST");
      else if (verb == "countTokens")
        expect(endpoint::count_tokens, wire_protocol::gemini, "POST");
    }
  } else if (path.rfind("/v1beta/", 0) == 0) {
    r.proto = wire_protocol::gemini;
  } else {
    r.proto = anthropic_client ? wire_protocol::claude : wire_protocol::openai;
  }
  return r;
}

bool client_authorized(const std::vector<std::pair<std::string_view, std::string_view>>& headers,
                       std::string_view query, std::string_view key) {
  if (key.empty()) return true;
  bool ok = false;
  // Check every form without stopping early, so timing does not tell which one matched.
  for (const auto& [name, value] : headers) {
    std::string_view candidate;
    if (name == "authorization") {
      std::string_view v = util::trim(value);
      if (util::istarts_with(v, "bearer "))
        candidate = util::trim(v.substr(7));
      else
        continue;
    } else if (name == "x-api-key" || name == "x-goog-api-key") {
      candidate = util::trim(value);
    } else {
      continue;
    }
    ok |= util::constant_time_equal(key, candidate);
  }
  if (!query.empty()) {
    const std::string q = util::query_param(query, "key");
    if (!q.empty()) ok |= util::constant_time_equal(key, q);
  }
  return ok;
}

}  // namespace aiclient::server
