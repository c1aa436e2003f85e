#pragma once
// Internal to the auth area: the provider API calls the token manager makes besides token
// refresh (Code Assist countTokens, Kiro getUsageLimits and ListAvailableModels): request
// pieces and answer parsing. No Asio here.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aiclient/auth/token_manager.hpp"

namespace aiclient::auth::detail {

/// The headers of a Kiro runtime API GET call (getUsageLimits, ListAvailableModels), as the
/// Kiro IDE sends them: Authorization, Accept, aws-sdk-js user agents naming KiroIDE and the
/// machine id, a fresh amz-sdk-invocation-id; "tokentype: API_KEY" for API-key credentials.
std::vector<std::pair<std::string, std::string>> kiro_runtime_headers(std::string_view access_token,
                                                                      std::string_view machine_id,
                                                                      bool api_key);

/// {base}{path}?{query}, with {region} in `base` replaced ("" base: the default
/// https://q.{region}.amazonaws.com) and &profileArn=<escaped> appended when `profile_arn` is
/// not empty.
std::string kiro_runtime_url(std::string base, const std::string& region, std::string_view path,
                             std::string_view query, const std::string& profile_arn);

/// True when Kiro refused the token itself: 401, or 403 "The bearer token included in the
/// request is invalid" (then one forced refresh and one more try help).
bool kiro_token_refused(int status, std::string_view body);

/// Parses a getUsageLimits answer (2xx body); sets `error` when it is not a JSON object.
kiro_usage parse_kiro_usage(std::string_view body);

/// Parses a ListAvailableModels answer (2xx body); sets `error` when it has no models array.
kiro_models parse_kiro_models(std::string_view body);

/// {"request":{"model":"models/<model>","contents":<contents>}} ("models/" not doubled), or ""
/// when `contents_json` is not a JSON array.
std::string code_assist_count_body(std::string_view model, std::string_view contents_json);

/// totalTokens of a countTokens answer (also inside a "response" wrapper), if a non-negative
/// integer.
std::optional<std::int64_t> parse_total_tokens(std::string_view body);

/// True for a Google RPC error (also array-wrapped) whose details carry the reason
/// SECURITY_POLICY_VIOLATED, or whose message names it: a VPC Service Controls user.
bool security_policy_violated(std::string_view body);

}  // namespace aiclient::auth::detail
