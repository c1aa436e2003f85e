#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aiclient/protocol/protocol.hpp"

namespace aiclient::server {

/// The endpoints the gateway serves.
enum class endpoint {
  chat_completions,  ///< POST /v1/chat/completions (OpenAI)
  messages,          ///< POST /v1/messages (Anthropic)
  count_tokens,      ///< POST /v1/messages/count_tokens (Anthropic), {model}:countTokens (Gemini)
  models,            ///< GET /v1/models (OpenAI, or Anthropic with anthropic-version)
  gemini_generate,   ///< POST /v1beta/models/{model}:generateContent
  gemini_stream,     ///< POST /v1beta/models/{model}:streamGenerateContent
  gemini_models,     ///< GET /v1beta/models
  health,            ///< GET /health
  provider_health,   ///< GET /provider_health (pool state, no secrets)
  admin,             ///< /admin/... (ADMIN_API_KEY)
  unknown
};

/// What the router made of a request line.
struct route {
  endpoint ep = endpoint::unknown;
  protocol::wire_protocol proto = protocol::wire_protocol::openai;  ///< client protocol
  std::string provider;      ///< provider type from a path prefix ("" when none)
  std::string gemini_model;  ///< {model} of the Gemini routes
  bool method_allowed = true;
  std::string_view allowed_method;  ///< the method the endpoint takes (for 405's Allow)
};

/// Splits a request target into path and query (without '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept;

/// Matches a method and path. A first segment naming a known provider type
/// ("/claude-custom/v1/messages") selects that provider. `anthropic_client` (the request
/// carries anthropic-version) makes /v1/models and unknown paths Anthropic-shaped.
route match_route(std::string_view method, std::string_view path, bool anthropic_client);

/// True when `headers` (lower-case names) or `query` carry `key`: "authorization: Bearer K",
/// "x-api-key: K", "x-goog-api-key: K" or "?key=K". Compared in constant time.
bool client_authorized(const std::vector<std::pair<std::string_view, std::string_view>>& headers,
                       std::string_view query, std::string_view key);

}  // namespace aiclient::server
