// Provider API calls besides token refresh: request pieces and answer parsing. Answers are
// untrusted: every field is checked for its type, nothing here throws.
#include "account_calls.hpp"

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "aiclient/util/strings.hpp"
#include "credentials.hpp"

namespace aiclient::auth::detail {
namespace {

using json = nlohmann::json;
using system_clock = std::chrono::system_clock;

constexpr const char* kiro_version = "0.11.107";
constexpr const char* default_kiro_base = "https://q.{region}.amazonaws.com";

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// A number field, or a numeric string.
std::optional<double> number(const json& j, const char* key) {
  return number_field(j, key);
}

/// "<key>WithPrecision" when present, else "<key>", else 0.
double amount(const json& j, const std::string& key) {
  if (auto v = number(j, (key + "WithPrecision").c_str())) return *v;
  return number(j, key.c_str()).value_or(0);
}

/// nextDateReset: epoch seconds (maybe fractional; milliseconds when that large), a numeric
/// string, or ISO-8601.
std::optional<system_clock::time_point> reset_time(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find("nextDateReset");
  if (it == j.end()) return std::nullopt;
  if (it->is_string()) {
    if (auto t = pool::parse_iso8601(it->get_ref<const std::string&>())) return t;
  }
  auto v = number(j, "nextDateReset");
  if (!v || *v <= 0) return std::nullopt;
  double ms = *v < 1.0e11 ? *v * 1000 : *v;
  if (ms > 7.0e12) return std::nullopt;
  return system_clock::time_point(std::chrono::milliseconds(std::llround(ms)));
}

bool active_bonus(const json& b) {
  const std::string status = str(b, "status");
  if (!status.empty()) return util::to_lower(status) == "active";
  if (const std::string exp = str(b, "expiresAt"); !exp.empty()) {
    if (auto t = pool::parse_iso8601(exp)) return *t > system_clock::now();
  }
  return amount(b, "usageLimit") > 0 || amount(b, "currentUsage") > 0;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> kiro_runtime_headers(std::string_view access_token,
                                                                      std::string_view machine_id,
                                                                      bool api_key) {
  const std::string ide = std::string("KiroIDE-") + kiro_version + "-" + std::string(machine_id);
  std::vector<std::pair<std::string, std::string>> h;
  h.emplace_back("Authorization", "Bearer " + std::string(access_token));
  h.emplace_back("Accept", "application/json");
  h.emplace_back("x-amz-user-agent", "aws-sdk-js/1.0.0 " + ide);
  h.emplace_back(
      "User-Agent",
      "aws-sdk-js/1.0.0 ua/2.1 os/linux lang/js md/nodejs api/codewhispererruntime#1.0.0 "
      "m/N,E " +
          ide);
  h.emplace_back("amz-sdk-invocation-id", random_uuid());
  h.emplace_back("amz-sdk-request", "attempt=1; max=1");
  if (api_key) h.emplace_back("tokentype", "API_KEY");
  return h;
}

std::string kiro_runtime_url(std::string base, const std::string& region, std::string_view path,
                             std::string_view query, const std::string& profile_arn) {
  if (util::trim(base).empty()) base = default_kiro_base;
  base = replace_region(std::string(util::trim(base)), region);
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + std::string(path) + "?" + std::string(query);
  if (!profile_arn.empty()) url += "&profileArn=" + url_escape(profile_arn);
  return url;
}

bool kiro_token_refused(int status, std::string_view body) {
  if (status == 401) return true;
  return status == 403 &&
         util::to_lower(body).find("bearer token included in the request is invalid") !=
             std::string::npos;
}

kiro_usage parse_kiro_usage(std::string_view body) {
  kiro_usage u;
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object()) {
    u.error = "getUsageLimits answer is not a JSON object";
    return u;
  }
  if (const auto sub = j.find("subscriptionInfo"); sub != j.end())
    u.subscription = util::trim(str(*sub, "subscriptionTitle"));
  u.next_reset = reset_time(j);
  const auto list = j.find("usageBreakdownList");
  if (list == j.end() || !list->is_array() || list->empty() || !(*list)[0].is_object()) return u;
  const json& b = (*list)[0];
  u.has_breakdown = true;
  u.current = amount(b, "currentUsage");
  u.limit = amount(b, "usageLimit");
  if (const auto trial = b.find("freeTrialInfo");
      trial != b.end() && trial->is_object() && str(*trial, "freeTrialStatus") == "ACTIVE") {
    u.current += amount(*trial, "currentUsage");
    u.limit += amount(*trial, "usageLimit");
  }
  if (const auto bonuses = b.find("bonuses"); bonuses != b.end() && bonuses->is_array()) {
    for (const auto& bonus : *bonuses) {
      if (!bonus.is_object() || !active_bonus(bonus)) continue;
      u.current += amount(bonus, "currentUsage");
      u.limit += amount(bonus, "usageLimit");
    }
  }
  if (!u.next_reset) u.next_reset = reset_time(b);
  return u;
}

kiro_models parse_kiro_models(std::string_view body) {
  kiro_models m;
  const json j = json::parse(body, nullptr, false);
  const auto list = j.is_object() ? j.find("models") : j.end();
  if (!j.is_object() || list == j.end() || !list->is_array()) {
    m.error = "ListAvailableModels answer has no models list";
    return m;
  }
  for (const auto& model : *list) {
    std::string id = str(model, "modelId");
    if (!id.empty()) m.ids.push_back(std::move(id));
  }
  return m;
}

std::string code_assist_count_body(std::string_view model, std::string_view contents_json) {
  using ordered = nlohmann::ordered_json;  // the client's contents keep their key order
  ordered contents = ordered::parse(contents_json, nullptr, false);
  if (!contents.is_array()) return {};
  std::string name(model);
  if (name.rfind("models/", 0) != 0) name = "models/" + name;
  ordered request = ordered::object();
  request["model"] = name;
  request["contents"] = std::move(contents);
  ordered out = ordered::object();
  out["request"] = std::move(request);
  return out.dump(-1, ' ', false, ordered::error_handler_t::replace);
}

std::optional<std::int64_t> parse_total_tokens(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("response") && !j.contains("totalTokens")) j = j["response"];
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find("totalTokens");
  if (it == j.end()) return std::nullopt;
  if (it->is_number_integer() && it->get<std::int64_t>() >= 0) return it->get<std::int64_t>();
  if (it->is_number_unsigned()) return static_cast<std::int64_t>(it->get<std::uint64_t>());
  // int64 values may come as JSON strings (proto3 JSON mapping).
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    return std::stoll(s);
  }
  return std::nullopt;
}

bool security_policy_violated(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_array() && !j.empty()) j = j[0];
  if (!j.is_object()) return false;
  const auto e = j.find("error");
  if (e == j.end() || !e->is_object()) return false;
  if (const auto details = e->find("details"); details != e->end() && details->is_array()) {
    for (const auto& d : *details)
      if (str(d, "reason") == "SECURITY_POLICY_VIOLATED") return true;
  }
  return str(*e, "message").find("SECURITY_POLICY_VIOLATED") != std::string::npos;
}

}  // namespace aiclient::auth::detail
