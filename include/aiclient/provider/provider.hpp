#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/pool/pool_file.hpp"
#include "aiclient/protocol/protocol.hpp"
#include "aiclient/upstream/client.hpp"

namespace aiclient::provider {

/// What a client asks for, independent of protocol.
enum class operation { generate, count_tokens, list_models };

/// The protocol a provider type speaks upstream; std::nullopt for `mock` (answers locally in
/// the client's protocol) and for types whose adapter is not built yet.
std::optional<protocol::wire_protocol> native_protocol(std::string_view provider_type);

/// True when this build can forward requests for the type (openai-custom, claude-custom, mock).
bool is_supported(std::string_view provider_type);

/// Request facts a pass-through needs from the client request.
struct passthrough_input {
  operation op = operation::generate;
  std::string_view query;  ///< client query string without '?', passed on (minus "key=")
  /// Client headers (lower-case names); only protocol headers are passed on, never credentials.
  const std::vector<std::pair<std::string_view, std::string_view>>* client_headers = nullptr;
  std::string body;  ///< body to send (already edited)
  /// Sent when `body` is empty; the caller keeps it alive until the request is sent.
  std::string_view borrowed_body;
};

/// Builds the upstream request for a same-protocol pass-through to `inst` into `out` (a fresh
/// request); `in.body` is moved into it (no second copy of a large body). Returns false with
/// `error` set when the instance's URL is unusable.
bool build_passthrough(const pool::instance& inst, passthrough_input in, upstream::request& out,
                       std::string* error);

/// Checks every instance's URLs of the supported types; throws config::config_error naming
/// the type, index and key.
void validate_instances(const pool::pools& p);

}  // namespace aiclient::provider
