#include "aiclient/pool/pool_file.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "aiclient/config/settings.hpp"
#include "aiclient/util/calendar.hpp"

namespace aiclient::pool {
namespace {

using json = nlohmann::ordered_json;
using config::config_error;

// The credential fields each provider type requires (mock: none).
struct required_fields {
  std::vector<const char*> names;
  const char* url_field = nullptr;  // the one that must be an http(s) URL
  const char* key_field = nullptr;  // the API key (instance::api_key)
};

const required_fields& required_for(const std::string& type) {
  static const std::unordered_map<std::string, required_fields> table = {
      {"openai-custom",
       {{"OPENAI_API_KEY", "OPENAI_BASE_URL"}, "OPENAI_BASE_URL", "OPENAI_API_KEY"}},
      {"claude-custom",
       {{"CLAUDE_API_KEY", "CLAUDE_BASE_URL"}, "CLAUDE_BASE_URL", "CLAUDE_API_KEY"}},
      {"gemini-cli-oauth", {{"GEMINI_OAUTH_CREDS_FILE_PATH"}}},
      {"claude-kiro-oauth", {{"KIRO_OAUTH_CREDS_FILE_PATH"}}},
      {"openai-qwen-oauth", {{"QWEN_OAUTH_CREDS_FILE_PATH"}}},
  };
  static const required_fields none;
  const auto it = table.find(type);
  return it == table.end() ? none : it->second;
}

// Optional string fields whose type is checked (string or null) for every provider type.
constexpr const char* optional_strings[] = {"customName", "checkModelName", "lastErrorMessage",
                                            "PROJECT_ID", "MOCK_REPLY"};
constexpr const char* boolean_fields[] = {"isHealthy", "isDisabled"};
constexpr const char* counter_fields[] = {"usageCount", "errorCount"};
constexpr const char* timestamp_fields[] = {"lastUsed", "lastErrorTime", "cooldownUntil",
                                            "lastHealthCheckTime"};
constexpr const char* model_list_fields[] = {"supportedModels", "notSupportedModels"};

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

std::uint64_t opt_counter(const json& obj, const char* key, const std::string& at) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  // A float with an integral value (1.0) is what some tools write for a count.
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (d >= 0 && d < 1.8e19 && d == static_cast<double>(static_cast<std::uint64_t>(d)))
      return static_cast<std::uint64_t>(d);
  }
  throw config_error(at + "." + key + " must be a non-negative integer");
}

std::optional<time_point> opt_timestamp(const json& obj, const char* key, const std::string& at) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    if (auto t = parse_iso8601(it->get_ref<const std::string&>())) return t;
  }
  throw config_error(at + "." + key +
                     " must be an ISO-8601 timestamp (like 2025-01-31T12:00:00.000Z) or null");
}

std::vector<std::string> opt_models(const json& obj, const char* key, const std::string& at) {
  std::vector<std::string> out;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) throw config_error(at + "." + key + " must be an array of model names");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    if (!m.is_string() || m.get_ref<const std::string&>().empty())
      throw config_error(at + "." + key + "[" + std::to_string(i) +
                         "] must be a non-empty string (a model name)");
    out.push_back(m.get<std::string>());
  }
  return out;
}

// "scheme://host..." with scheme http or https and a non-empty host. Never echoes the value.
void check_url(const std::string& value, const char* key, const std::string& at) {
  std::size_t rest = 0;
  if (value.rfind("http://", 0) == 0)
    rest = 7;
  else if (value.rfind("https://", 0) == 0)
    rest = 8;
  else
    throw config_error(at + "." + key + " must start with http:// or https://");
  const std::size_t end = value.find_first_of("/?#", rest);
  const std::string_view host =
      std::string_view(value).substr(rest, end == std::string::npos ? end : end - rest);
  if (host.empty() || host.find_first_of(" \t\r\n") != std::string_view::npos)
    throw config_error(at + "." + key + " has no valid host");
}

std::string random_uuid_v4() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  std::uint8_t b[16];
  for (int i = 0; i < 16; i += 8) {
    const std::uint64_t v = gen();
    for (int j = 0; j < 8; ++j) b[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0x0f];
  }
  return out;
}

// Line and column (1-based) of byte offset `byte` (1-based, as nlohmann reports it).
std::string position_of(std::string_view text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  const std::size_t end = std::min(byte == 0 ? 0 : byte - 1, text.size());
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

using util::civil_from_days;
using util::days_from_civil;

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, std::int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

}  // namespace

std::string instance::field(std::string_view key) const {
  const auto it = fields.find(key);
  return it == fields.end() ? std::string() : it->second;
}

bool instance::serves_model(std::string_view model) const {
  if (model.empty()) return true;
  if (!supported_models.empty() &&
      std::find(supported_models.begin(), supported_models.end(), model) == supported_models.end())
    return false;
  return std::find(not_supported_models.begin(), not_supported_models.end(), model) ==
         not_supported_models.end();
}

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

std::size_t pools::generated_uuids() const {
  std::size_t n = 0;
  for (const auto& [type, list] : by_type)
    for (const auto& inst : list) n += inst.uuid_generated ? 1 : 0;
  return n;
}

pools parse_pools(std::string_view text, const std::string& origin) {
  auto doc = std::make_shared<json>();
  try {
    *doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // e.what() quotes the text near the error, which may be a credential: only the position.
    throw config_error(origin + ": not valid JSON (" + position_of(text, e.byte) + ")");
  }
  if (!doc->is_object())
    throw config_error(origin + ": top level must be an object of provider types");
  const auto& known = config::known_provider_types();
  pools out;
  std::map<std::string, std::string> uuid_seen;  // uuid -> "type[i]"
  for (auto entry = doc->begin(); entry != doc->end(); ++entry) {
    const std::string& type = entry.key();
    json& list = entry.value();
    if (std::find(known.begin(), known.end(), type) == known.end())
      throw config_error(origin + ": unknown provider type \"" + type + "\"");
    if (!list.is_array())
      throw config_error(origin + ": " + type + " must be an array of instances");
    auto& vec = out.by_type[type];
    const required_fields& req = required_for(type);
    for (std::size_t i = 0; i < list.size(); ++i) {
      json& obj = list[i];
      const std::string at = where(origin, type, i);
      if (!obj.is_object()) throw config_error(at + " must be an object");
      instance inst;
      inst.type = type;
      inst.index = i;

      // Types of the fields this program reads.
      for (const char* key : req.names) {
        const std::string v = opt_string(obj, key, at);
        if (v.empty()) {
          const auto it = obj.find(key);
          if (it != obj.end() && it->is_string())
            throw config_error(at + "." + key + " must not be empty");
          throw config_error(at + " is missing " + key);
        }
      }
      for (const char* key : optional_strings) opt_string(obj, key, at);
      if (req.url_field) check_url(obj[req.url_field].get<std::string>(), req.url_field, at);

      inst.uuid = opt_string(obj, "uuid", at);
      if (inst.uuid.empty()) {
        inst.uuid = random_uuid_v4();
        inst.uuid_generated = true;
      }
      if (const auto [it, fresh] =
              uuid_seen.emplace(inst.uuid, type + "[" + std::to_string(i) + "]");
          !fresh)
        throw config_error(at + ".uuid \"" + inst.uuid + "\" is already used by " + it->second);
      if (inst.uuid_generated) obj["uuid"] = inst.uuid;  // written back on the next save

      for (const auto& [key, value] : obj.items())
        if (value.is_string()) inst.fields.emplace(key, value.get<std::string>());
      inst.custom_name = inst.field("customName");
      inst.check_model = inst.field("checkModelName");
      if (req.url_field) inst.base_url = inst.field(req.url_field);
      if (req.key_field) inst.api_key = inst.field(req.key_field);
      inst.supported_models = opt_models(obj, model_list_fields[0], at);
      inst.not_supported_models = opt_models(obj, model_list_fields[1], at);
      if (const auto mm = obj.find("modelMapping"); mm != obj.end() && !mm->is_null()) {
        if (!mm->is_object())
          throw config_error(at + ".modelMapping must be an object of model names");
        for (const auto& [from, to] : mm->items()) {
          if (!to.is_string() || to.get<std::string>().empty())
            throw config_error(at + ".modelMapping." + from + " must be a non-empty model name");
          inst.model_mapping[from] = to.get<std::string>();
        }
      }

      instance_state& st = inst.state;
      st.is_healthy = opt_bool(obj, boolean_fields[0], true, at);
      st.is_disabled = opt_bool(obj, boolean_fields[1], false, at);
      st.usage_count = opt_counter(obj, counter_fields[0], at);
      const std::uint64_t errors = opt_counter(obj, counter_fields[1], at);
      st.error_count = static_cast<int>(std::min<std::uint64_t>(
          errors, static_cast<std::uint64_t>(std::numeric_limits<int>::max())));
      st.last_used = opt_timestamp(obj, timestamp_fields[0], at);
      st.last_error_time = opt_timestamp(obj, timestamp_fields[1], at);
      st.cooldown_until = opt_timestamp(obj, timestamp_fields[2], at);
      st.last_health_check = opt_timestamp(obj, timestamp_fields[3], at);
      st.last_error_message = inst.field("lastErrorMessage");
      inst.is_healthy = st.is_healthy;
      inst.is_disabled = st.is_disabled;
      vec.push_back(std::move(inst));
    }
  }
  out.document = std::move(doc);
  return out;
}

pools load_pools_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error("cannot read provider pools file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw config_error("cannot read provider pools file " + path);
  return parse_pools(ss.str(), path);
}

std::string to_iso8601(time_point t) {
  const std::int64_t ms =
      std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  constexpr std::int64_t ms_per_day = 86'400'000;
  std::int64_t days = ms / ms_per_day;
  std::int64_t rem = ms % ms_per_day;
  if (rem < 0) {
    rem += ms_per_day;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char year[24];
  if (y >= 0 && y <= 9999)
    std::snprintf(year, sizeof year, "%04lld", static_cast<long long>(y));
  else  // JavaScript's expanded years: +YYYYYY / -YYYYYY
    std::snprintf(year, sizeof year, "%c%06lld", y < 0 ? '-' : '+',
                  static_cast<long long>(y < 0 ? -y : y));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", year, m, d,
                static_cast<long long>(rem / 3'600'000), static_cast<long long>(rem / 60'000 % 60),
                static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return buf;
}

std::optional<time_point> parse_iso8601(std::string_view s) {
  std::size_t pos = 0;
  std::int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    const bool neg = s[0] == '-';
    pos = 1;
    if (!digits(s, pos, 6, year)) return std::nullopt;
    if (neg) year = -year;
  } else if (!digits(s, pos, 4, year)) {
    return std::nullopt;
  }
  const auto expect = [&](char c) {
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  if (!expect('-') || !digits(s, pos, 2, month) || !expect('-') || !digits(s, pos, 2, day))
    return std::nullopt;
  if (!(expect('T') || expect('t') || expect(' '))) return std::nullopt;
  if (!digits(s, pos, 2, hour) || !expect(':') || !digits(s, pos, 2, minute) || !expect(':') ||
      !digits(s, pos, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, static_cast<unsigned>(month)) || hour > 23 || minute > 59 ||
      second > 59)
    return std::nullopt;
  std::int64_t nanos = 0;
  if (expect('.') || expect(',')) {
    std::size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) nanos = nanos * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (std::size_t i = n; i < 9; ++i) nanos *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (expect('Z') || expect('z')) {
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    std::int64_t oh = 0, om = 0;
    if (!digits(s, pos, 2, oh)) return std::nullopt;
    expect(':');
    if (!digits(s, pos, 2, om) || oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;  // no zone: ambiguous (JavaScript would read local time)
  }
  if (pos != s.size()) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits: about the years 1678 to 2261.
  if (year < 1678 || year > 2261) return std::nullopt;
  const std::int64_t secs =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const auto since_epoch = std::chrono::seconds(secs) + std::chrono::nanoseconds(nanos);
  return time_point(std::chrono::duration_cast<time_point::duration>(since_epoch));
}

}  // namespace aiclient::pool
