// The three providers' credential files: reading, validation, refresh requests and answers,
// write-back. Values read from these files are secrets: no message here ever quotes one.
#include "credentials.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "aiclient/util/atomic_file.hpp"
#include "aiclient/util/strings.hpp"

namespace aiclient::auth::detail {
namespace {

using json = nlohmann::ordered_json;

constexpr std::size_t max_file_bytes = 1024 * 1024;
constexpr double default_expires_in_s = 3600;
// Timestamps (ms since the epoch) that system_clock (64-bit nanoseconds) can hold, with room.
constexpr double max_epoch_ms = 7.0e12;
constexpr const char* kiro_version = "0.11.107";
constexpr const char* aws_sdk_version = "3.738.0";

using util::errno_text;

std::string file_error(const std::string& path, const std::string& what) {
  return "credentials file '" + path + "': " + what;
}

/// Reads an optional string field. Returns "" or an error (never the value).
std::string opt_string(const json& doc, const char* key, std::string& out) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_string()) return std::string("field '") + key + "' is not a string";
  out = it->get<std::string>();
  return {};
}

/// Reads a required non-empty string field.
std::string req_string(const json& doc, const char* key, std::string& out) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::string("field '") + key + "' is missing";
  if (!it->is_string()) return std::string("field '") + key + "' is not a string";
  out = it->get<std::string>();
  if (out.empty()) return std::string("field '") + key + "' is empty";
  return {};
}

time_point from_epoch_ms(double ms) {
  // Whole milliseconds (JavaScript's Date.now() has no finer grain): exact for integers.
  return time_point(std::chrono::milliseconds(std::llround(ms)));
}

std::int64_t to_epoch_ms(time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// Reads an optional ms-since-epoch number field.
std::string opt_epoch_ms(const json& doc, const char* key, std::optional<time_point>& out) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_number()) return std::string("field '") + key + "' is not a number";
  const double ms = it->get<double>();
  if (!std::isfinite(ms) || ms < 0 || ms > max_epoch_ms)
    return std::string("field '") + key + "' is not a time in milliseconds since 1970";
  out = from_epoch_ms(ms);
  return {};
}

/// ISO-8601, also without a zone (read as UTC).
std::optional<time_point> parse_iso(std::string_view s) {
  if (auto t = pool::parse_iso8601(s)) return t;
  return pool::parse_iso8601(std::string(s) + "Z");
}

bool valid_region(std::string_view r) {
  if (r.empty() || r.size() > 32) return false;
  return std::all_of(r.begin(), r.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// A registration file name taken from the token file: a plain name in the same folder.
bool valid_hash_name(std::string_view h) {
  if (h.empty() || h.size() > 200 || h.front() == '.') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

std::string parse_gemini_or_qwen(const json& doc, credentials& c) {
  std::string e;
  if (!(e = req_string(doc, "refresh_token", c.refresh_token)).empty()) return e;
  if (!(e = opt_string(doc, "access_token", c.access_token)).empty()) return e;
  if (!(e = opt_epoch_ms(doc, "expiry_date", c.expires_at)).empty()) return e;
  std::string ignored;
  if (!(e = opt_string(doc, "token_type", ignored)).empty()) return e;
  if (c.kind == provider::qwen) {
    if (!(e = opt_string(doc, "resource_url", c.resource_url)).empty()) return e;
  }
  return {};
}

std::string parse_kiro(const json& doc, credentials& c) {
  std::string e;
  std::string method;
  if (!(e = opt_string(doc, "authMethod", method)).empty()) return e;
  if (!(e = opt_string(doc, "clientId", c.client_id)).empty()) return e;
  if (!(e = opt_string(doc, "clientSecret", c.client_secret)).empty()) return e;
  if (!(e = opt_string(doc, "clientIdHash", c.client_id_hash)).empty()) return e;
  const std::string m = util::to_lower(util::trim(method));
  if (m.empty()) {
    const bool has_client = (!c.client_id.empty() && !c.client_secret.empty());
    c.method = (has_client || !c.client_id_hash.empty()) ? kiro_method::idc : kiro_method::social;
  } else if (m == "social") {
    c.method = kiro_method::social;
  } else if (m == "idc" || m == "builder-id" || m == "builderid" || m == "builder_id" ||
             m == "iam" || m == "enterprise") {
    c.method = kiro_method::idc;
  } else if (m == "api_key" || m == "apikey" || m == "api-key") {
    c.method = kiro_method::api_key;
  } else {
    return "field 'authMethod' is not one of social, IdC, builder-id, iam, api_key";
  }
  if (c.method == kiro_method::api_key) {
    c.refreshable = false;
    if (!(e = req_string(doc, "accessToken", c.access_token)).empty()) return e;
  } else {
    if (!(e = req_string(doc, "refreshToken", c.refresh_token)).empty()) return e;
    if (!(e = opt_string(doc, "accessToken", c.access_token)).empty()) return e;
  }
  const auto exp = doc.find("expiresAt");
  if (exp != doc.end() && !exp->is_null()) {
    if (exp->is_string()) {
      c.expires_at = parse_iso(exp->get_ref<const std::string&>());
      if (!c.expires_at) return "field 'expiresAt' is not an ISO-8601 timestamp";
    } else if (!(e = opt_epoch_ms(doc, "expiresAt", c.expires_at)).empty()) {
      return "field 'expiresAt' is not an ISO-8601 timestamp";
    }
  }
  std::string region;
  if (!(e = opt_string(doc, "region", region)).empty()) return e;
  region = std::string(util::trim(region));
  if (!region.empty()) {
    if (!valid_region(region)) return "field 'region' is not an AWS region name";
    c.region = region;
  }
  if (!(e = opt_string(doc, "profileArn", c.profile_arn)).empty()) return e;
  if (!c.client_id_hash.empty() && !valid_hash_name(c.client_id_hash))
    return "field 'clientIdHash' is not a plain file name";
  return {};
}

std::string form_escape(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + 8);
  for (const unsigned char ch : s) {
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

std::string form(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += form_escape(k);
    out += '=';
    out += form_escape(v);
  }
  return out;
}

std::string with_region(std::string url, const std::string& region) {
  static constexpr std::string_view marker = "{region}";
  for (auto pos = url.find(marker); pos != std::string::npos; pos = url.find(marker, pos)) {
    url.replace(pos, marker.size(), region);
    pos += region.size();
  }
  return url;
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// The expiry of a Kiro IdC client registration: an ISO-8601 string, or a number of seconds
/// (milliseconds when that large) since the epoch; nullopt when absent or unreadable.
std::optional<time_point> registration_expiry(const json& doc) {
  const auto it = doc.find("expiresAt");
  if (it == doc.end()) return std::nullopt;
  if (it->is_string()) return parse_iso(it->get_ref<const std::string&>());
  if (!it->is_number()) return std::nullopt;
  double v = it->get<double>();
  if (!std::isfinite(v) || v <= 0) return std::nullopt;
  if (v < 1.0e11) v *= 1000;  // seconds (AWS's clientSecretExpiresAt) rather than ms
  if (v > max_epoch_ms) return std::nullopt;
  return from_epoch_ms(v);
}

/// Kiro IdC client registration: from the token file, else <dir>/<clientIdHash>.json, whose
/// expiresAt must not have passed (an expired registration cannot refresh: a new login in
/// Kiro registers a new client).
refresh_outcome kiro_client(const credentials& c, time_point now, std::string& id,
                            std::string& secret) {
  id = c.client_id;
  secret = c.client_secret;
  if (!id.empty() && !secret.empty()) return {};
  if (c.client_id_hash.empty())
    return {
        "kiro IdC credentials need clientId and clientSecret (in the token file, or in the "
        "registration file named by clientIdHash): '" +
            c.path + "' has neither",
        false, true};
  const std::string reg = dir_of(c.path) + "/" + c.client_id_hash + ".json";
  std::string text, reason;
  if (!read_small_file(reg, text, reason))
    return {"kiro IdC registration file '" + reg + "': " + reason, false, true};
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception&) {
    return {"kiro IdC registration file '" + reg + "': is not valid JSON", false, true};
  }
  if (!doc.is_object())
    return {"kiro IdC registration file '" + reg + "': is not a JSON object", false, true};
  if (const auto expires = registration_expiry(doc); expires && *expires <= now)
    return {"Kiro IdC client registration expired at " + pool::to_iso8601(*expires) + " ('" + reg +
                "'); log in again with Kiro",
            true, true};
  std::string e;
  if (!(e = req_string(doc, "clientId", id)).empty() ||
      !(e = req_string(doc, "clientSecret", secret)).empty())
    return {"kiro IdC registration file '" + reg + "': " + e, false, true};
  return {};
}

/// "code: description" from an error answer (JSON only; nothing when not JSON).
std::string error_summary(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception&) {
    return {};
  }
  if (!j.is_object()) return {};
  std::string code, text;
  if (const auto e = j.find("error"); e != j.end()) {
    if (e->is_string()) {
      code = e->get<std::string>();
    } else if (e->is_object()) {
      if (auto m = e->find("message"); m != e->end() && m->is_string())
        text = m->get<std::string>();
      if (auto s = e->find("status"); s != e->end() && s->is_string()) code = s->get<std::string>();
    }
  }
  for (const char* key : {"error_description", "message", "Message"}) {
    if (!text.empty()) break;
    if (auto m = j.find(key); m != j.end() && m->is_string()) text = m->get<std::string>();
  }
  if (code.empty()) {
    for (const char* key : {"reason", "__type", "code"}) {
      if (auto m = j.find(key); m != j.end() && m->is_string()) {
        code = m->get<std::string>();
        break;
      }
    }
  }
  if (code.empty()) return text;
  if (text.empty()) return code;
  return code + ": " + text;
}

/// A positive lifetime in seconds from a number or numeric string; nullopt otherwise.
std::optional<double> lifetime_s(const json& j, const char* key) {
  const auto v = number_field(j, key);
  if (!v || *v <= 0 || *v > 10.0 * 365 * 86400) return std::nullopt;
  return v;
}

/// Sets `key` in both the document and the pending updates.
void set_field(credentials& c, const char* key, json value) {
  c.doc[key] = value;
  c.updates[key] = std::move(value);
}

std::string provider_label(provider p) {
  switch (p) {
    case provider::gemini:
      return "gemini-cli-oauth";
    case provider::qwen:
      return "openai-qwen-oauth";
    case provider::kiro:
      return "claude-kiro-oauth";
  }
  return "oauth";
}

}  // namespace

std::optional<provider> provider_of(std::string_view type) {
  if (type == "gemini-cli-oauth") return provider::gemini;
  if (type == "openai-qwen-oauth") return provider::qwen;
  if (type == "claude-kiro-oauth") return provider::kiro;
  return std::nullopt;
}

bool read_small_file(const std::string& path, std::string& out, std::string& reason) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    reason = "cannot open: " + errno_text(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    reason = "is not a regular file";
    return false;
  }
  if (std::size_t(st.st_size) > max_file_bytes) {
    ::close(fd);
    reason = "is too large (over 1 MiB)";
    return false;
  }
  out.clear();
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      reason = "cannot read: " + errno_text(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(buffer, std::size_t(n));
    if (out.size() > max_file_bytes) {
      ::close(fd);
      reason = "is too large (over 1 MiB)";
      return false;
    }
  }
  ::close(fd);
  return true;
}

std::string expand_home(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home && *home) return std::string(home) + path.substr(1);
  }
  return path;
}

load_result parse_credentials(provider kind, const std::string& path, std::string_view text) {
  load_result r;
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // e.what() may quote the bytes around the error: secrets. Only the position is reported.
    r.error =
        file_error(path, "is not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")");
    return r;
  } catch (const json::exception&) {
    r.error = file_error(path, "is not valid JSON");
    return r;
  }
  if (!doc.is_object()) {
    r.error = file_error(path, "is not a JSON object");
    return r;
  }
  credentials c;
  c.kind = kind;
  c.path = path;
  c.updates = json::object();
  const std::string e = kind == provider::kiro ? parse_kiro(doc, c) : parse_gemini_or_qwen(doc, c);
  if (!e.empty()) {
    r.error = file_error(path, e);
    return r;
  }
  c.doc = std::move(doc);
  r.creds = std::move(c);
  return r;
}

load_result load_credentials(provider kind, const std::string& path) {
  std::string text, reason;
  if (!read_small_file(path, text, reason)) return {std::nullopt, file_error(path, reason)};
  return parse_credentials(kind, path, text);
}

std::string qwen_base_url(std::string_view resource_url) {
  std::string_view r = util::trim(resource_url);
  if (r.empty()) return "https://dashscope.aliyuncs.com/compatible-mode/v1";
  std::string u =
      r.find("://") == std::string_view::npos ? "https://" + std::string(r) : std::string(r);
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.size() < 3 || u.compare(u.size() - 3, 3, "/v1") != 0) u += "/v1";
  return u;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::map<std::string, std::string> facts_of(const credentials& c) {
  std::map<std::string, std::string> f;
  switch (c.kind) {
    case provider::gemini:
      break;
    case provider::qwen:
      f["base_url"] = qwen_base_url(c.resource_url);
      break;
    case provider::kiro:
      if (!c.profile_arn.empty()) f["profile_arn"] = c.profile_arn;
      f["region"] = c.region;
      f["auth_method"] = c.method == kiro_method::social ? "social"
                         : c.method == kiro_method::idc  ? "idc"
                                                         : "api_key";
      f["machine_id"] = sha256_hex(c.refresh_token.empty() ? c.access_token : c.refresh_token);
      break;
  }
  return f;
}

endpoints endpoints_for(const endpoints& base, const pool::instance& inst) {
  endpoints ep = base;
  const auto over = [&](const char* key, std::string& target) {
    std::string v = inst.field(key);
    if (!v.empty()) target = std::move(v);
  };
  over("GEMINI_TOKEN_URL", ep.gemini_token_url);
  over("GEMINI_OAUTH_CLIENT_ID", ep.gemini_client_id);
  over("GEMINI_OAUTH_CLIENT_SECRET", ep.gemini_client_secret);
  over("GEMINI_CODE_ASSIST_BASE", ep.gemini_code_assist_base);
  over("QWEN_TOKEN_URL", ep.qwen_token_url);
  over("QWEN_OAUTH_CLIENT_ID", ep.qwen_client_id);
  over("KIRO_REFRESH_URL", ep.kiro_social_refresh_url);
  over("KIRO_IDC_TOKEN_URL", ep.kiro_idc_token_url);
  return ep;
}

refresh_outcome build_refresh(const credentials& c, const endpoints& ep, refresh_request& out,
                              time_point now) {
  out = refresh_request{};
  out.secrets = {c.refresh_token, c.access_token};
  if (!c.refreshable)
    return {provider_label(c.kind) + " credentials '" + c.path +
                "' use an API key, which cannot be refreshed",
            false, true};
  switch (c.kind) {
    case provider::gemini:
      if (ep.gemini_client_secret.empty())
        return {
            "gemini-cli-oauth token refresh needs the OAuth client secret of Gemini CLI: set "
            "GEMINI_OAUTH_CLIENT_SECRET (config.json or the instance)",
            false, true};
      out.url = ep.gemini_token_url;
      out.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
      out.body = form({{"grant_type", "refresh_token"},
                       {"refresh_token", c.refresh_token},
                       {"client_id", ep.gemini_client_id},
                       {"client_secret", ep.gemini_client_secret}});
      out.secrets.push_back(ep.gemini_client_secret);
      return {};
    case provider::qwen:
      out.url = ep.qwen_token_url;
      out.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
      out.body = form({{"grant_type", "refresh_token"},
                       {"refresh_token", c.refresh_token},
                       {"client_id", ep.qwen_client_id}});
      return {};
    case provider::kiro: {
      const std::string machine = sha256_hex(c.refresh_token);
      if (c.method == kiro_method::social) {
        out.url = with_region(ep.kiro_social_refresh_url, c.region);
        out.headers = {{"Content-Type", "application/json"},
                       {"Accept", "application/json"},
                       {"User-Agent", std::string("KiroIDE-") + kiro_version + "-" + machine}};
        out.body = json{{"refreshToken", c.refresh_token}}.dump();
        return {};
      }
      std::string id, secret;
      if (auto r = kiro_client(c, now, id, secret); !r.error.empty()) return r;
      out.secrets.push_back(secret);
      out.url = with_region(ep.kiro_idc_token_url, c.region);
      const std::string sdk = std::string("aws-sdk-js/") + aws_sdk_version;
      out.headers = {{"Content-Type", "application/json"},
                     {"Accept", "application/json"},
                     {"x-amz-user-agent", sdk + " KiroIDE"},
                     {"User-Agent", sdk + " ua/2.1 os/linux lang/js md/nodejs api/sso-oidc#" +
                                        aws_sdk_version + " m/E KiroIDE"},
                     {"amz-sdk-invocation-id", random_uuid()},
                     {"amz-sdk-request", "attempt=1; max=4"}};
      out.body = json{{"clientId", id},
                      {"clientSecret", secret},
                      {"refreshToken", c.refresh_token},
                      {"grantType", "refresh_token"}}
                     .dump();
      return {};
    }
  }
  return {"unknown provider", false, true};
}

refresh_outcome apply_refresh_answer(credentials& c, int status, std::string_view body,
                                     time_point now, const std::vector<std::string>& secrets) {
  refresh_outcome r;
  if (status < 200 || status > 299) {
    const std::string summary = scrub(error_summary(body), secrets, 200);
    r.error = "HTTP " + std::to_string(status);
    if (!summary.empty()) r.error += " (" + summary + ")";
    const bool dead_text = body.find("invalid_grant") != std::string_view::npos ||
                           body.find("Invalid refresh token provided") != std::string_view::npos;
    if ((status == 400 || status == 401) && dead_text) {
      r.permanent = true;
      r.error += "; the refresh token is no longer valid: log in again";
    }
    return r;
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception&) {
    r.error = "HTTP " + std::to_string(status) + " answer is not JSON";
    return r;
  }
  if (!j.is_object()) {
    r.error = "HTTP " + std::to_string(status) + " answer is not a JSON object";
    return r;
  }
  const bool kiro = c.kind == provider::kiro;
  const char* access_key = kiro ? "accessToken" : "access_token";
  const char* refresh_key = kiro ? "refreshToken" : "refresh_token";
  const char* expires_key = kiro ? "expiresIn" : "expires_in";
  const auto str = [&](const char* key) -> std::string {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string access = str(access_key);
  if (access.empty()) {
    r.error = std::string("answer has no ") + access_key;
    return r;
  }
  const double lifetime = lifetime_s(j, expires_key).value_or(default_expires_in_s);
  const time_point expires = now + std::chrono::duration_cast<time_point::duration>(
                                       std::chrono::duration<double>(lifetime));
  c.access_token = access;
  c.expires_at = expires;
  set_field(c, access_key, access);
  if (std::string rotated = str(refresh_key); !rotated.empty()) {
    c.refresh_token = rotated;
    set_field(c, refresh_key, rotated);
  }
  if (kiro) {
    set_field(c, "expiresAt", pool::to_iso8601(expires));
    if (std::string arn = str("profileArn"); !arn.empty()) {
      c.profile_arn = arn;
      set_field(c, "profileArn", arn);
    }
    return r;
  }
  set_field(c, "expiry_date", to_epoch_ms(expires));
  if (std::string type = str("token_type"); !type.empty()) set_field(c, "token_type", type);
  if (c.kind == provider::gemini) {
    if (std::string scope = str("scope"); !scope.empty()) set_field(c, "scope", scope);
    if (std::string id = str("id_token"); !id.empty()) set_field(c, "id_token", id);
  } else if (std::string resource = str("resource_url"); !resource.empty()) {
    c.resource_url = resource;
    set_field(c, "resource_url", resource);
  }
  return r;
}

std::string write_back(credentials& c) {
  json base;
  std::string text, reason;
  if (read_small_file(c.path, text, reason)) {
    try {
      base = json::parse(text);
    } catch (const json::exception&) {
      base = nullptr;
    }
  }
  if (!base.is_object()) {
    base = c.doc;
  } else {
    for (const auto& [key, value] : c.updates.items()) base[key] = value;
  }
  std::string content;
  try {
    content = base.dump(2, ' ', false, json::error_handler_t::replace);
  } catch (const json::exception&) {
    return "cannot write '" + c.path + "': cannot serialise the credentials";
  }
  content += '\n';
  // atomic_write_file keeps the existing file's mode: make that 0600 first (and again after,
  // in case the file was replaced in between).
  ::chmod(c.path.c_str(), 0600);
  std::string error = util::atomic_write_file(c.path, content);
  if (!error.empty()) return error;
  if (::chmod(c.path.c_str(), 0600) != 0)
    return "cannot set mode 0600 on '" + c.path + "': " + errno_text(errno);
  c.doc = std::move(base);
  c.updates = json::object();
  return {};
}

std::string scrub(std::string_view text, const std::vector<std::string>& secrets,
                  std::size_t max_len) {
  std::string out(text);
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;  // too short to be a real secret; would mangle the text
    for (auto pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3))
      out.replace(pos, s.size(), "***");
  }
  for (auto& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  }
  if (out.size() > max_len) {
    out.resize(max_len);
    // Do not leave a cut UTF-8 sequence at the end.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) out.pop_back();
    out += "...";
  }
  return out;
}

std::string url_escape(std::string_view s) {
  return form_escape(s);
}

std::string replace_region(std::string url, const std::string& region) {
  return with_region(std::move(url), region);
}

std::string random_uuid() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  std::uint8_t b[16];
  for (int i = 0; i < 16; i += 8) {
    const std::uint64_t v = gen();
    for (int k = 0; k < 8; ++k) b[i + k] = static_cast<std::uint8_t>(v >> (8 * k));
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 15];
  }
  return out;
}

std::optional<double> number_field(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  double v = 0;
  if (it->is_number()) {
    v = it->get<double>();
  } else if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace aiclient::auth::detail
