#include "aiclient/pool/pool_file.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "aiclient/config/settings.hpp"

namespace aiclient::pool {
namespace {

using json = nlohmann::ordered_json;
using config::config_error;

std::string where(const std::string& origin, const std::string& type, std::size_t i) {
  return origin + ": " + type + "[" + std::to_string(i) + "]";
}

// Reads an optional string field; null counts as absent.
std::string opt_string(const json& obj, const char* key, const std::string& at) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) throw config_error(at + "." + key + " must be a string");
  return it->get<std::string>();
}

bool opt_bool(const json& obj, const char* key, bool dflt, const std::string& at) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) throw config_error(at + "." + key + " must be true or false");
  return it->get<bool>();
}

std::string required_string(const json& obj, const char* key, const std::string& at) {
  std::string v = opt_string(obj, key, at);
  if (v.empty()) throw config_error(at + " is missing " + key);
  return v;
}

}  // namespace

const instance* pools::first(std::string_view type) const {
  const auto it = by_type.find(type);
  if (it == by_type.end()) return nullptr;
  for (const auto& inst : it->second)
    if (inst.is_healthy && !inst.is_disabled) return &inst;
  return nullptr;
}

std::size_t pools::count(std::string_view type) const {
  const auto it = by_type.find(type);
  return it == by_type.end() ? 0 : it->second.size();
}

pools parse_pools(std::string_view text, const std::string& origin) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw config_error(origin + ": not valid JSON");
  if (!doc.is_object()) throw config_error(origin + ": top level must be an object of provider types");
  const auto& known = config::known_provider_types();
  pools out;
  std::set<std::string> uuids;
  for (const auto& [type, list] : doc.items()) {
    if (std::find(known.begin(), known.end(), type) == known.end())
      throw config_error(origin + ": unknown provider type \"" + type + "\"");
    if (!list.is_array()) throw config_error(origin + ": " + type + " must be an array of instances");
    auto& vec = out.by_type[type];
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& obj = list[i];
      const std::string at = where(origin, type, i);
      if (!obj.is_object()) throw config_error(at + " must be an object");
      instance inst;
      inst.type = type;
      inst.uuid = opt_string(obj, "uuid", at);
      if (!inst.uuid.empty() && !uuids.insert(inst.uuid).second)
        throw config_error(at + ".uuid \"" + inst.uuid + "\" is used twice");
      inst.custom_name = opt_string(obj, "customName", at);
      inst.check_model = opt_string(obj, "checkModelName", at);
      inst.is_healthy = opt_bool(obj, "isHealthy", true, at);
      inst.is_disabled = opt_bool(obj, "isDisabled", false, at);
      if (type == "openai-custom") {
        inst.api_key = required_string(obj, "OPENAI_API_KEY", at);
        inst.base_url = required_string(obj, "OPENAI_BASE_URL", at);
      } else if (type == "claude-custom") {
        inst.api_key = required_string(obj, "CLAUDE_API_KEY", at);
        inst.base_url = required_string(obj, "CLAUDE_BASE_URL", at);
      } else if (type == "mock") {
        inst.base_url = opt_string(obj, "MOCK_REPLY", at);  // optional fixed reply text
      }
      if ((type == "openai-custom" || type == "claude-custom") &&
          inst.base_url.rfind("http://", 0) != 0 && inst.base_url.rfind("https://", 0) != 0) {
        throw config_error(at + "." + (type == "openai-custom" ? "OPENAI_BASE_URL" : "CLAUDE_BASE_URL") +
                           " must start with http:// or https://");
      }
      vec.push_back(std::move(inst));
    }
  }
  return out;
}

pools load_pools_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error("cannot read provider pools file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_pools(ss.str(), path);
}

}  // namespace aiclient::pool
