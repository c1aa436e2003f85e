#include "aiclient/provider/provider.hpp"

#include "aiclient/config/settings.hpp"
#include "aiclient/util/strings.hpp"

namespace aiclient::provider {

std::optional<protocol::wire_protocol> native_protocol(std::string_view t) {
  if (t == "openai-custom" || t == "openai-qwen-oauth") return protocol::wire_protocol::openai;
  if (t == "claude-custom" || t == "claude-kiro-oauth") return protocol::wire_protocol::claude;
  if (t == "gemini-cli-oauth") return protocol::wire_protocol::gemini;
  return std::nullopt;
}

bool is_supported(std::string_view t) {
  return t == "openai-custom" || t == "claude-custom" || t == "mock" || t == "openai-qwen-oauth" ||
         t == "gemini-cli-oauth" || t == "claude-kiro-oauth";
}

namespace {

// Headers of the client that reach the upstream in a pass-through. Credentials
// (authorization, x-api-key, x-goog-api-key, cookie) never do.
bool forwardable(std::string_view name, protocol::wire_protocol p) {
  if (p == protocol::wire_protocol::claude) return util::istarts_with(name, "anthropic-");
  if (p == protocol::wire_protocol::openai) return name == "openai-beta";
  return false;
}

// Drops "key=..." (a client credential) from a query string.
std::string strip_key_param(std::string_view q) {
  std::string out;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    if (!(part == "key" || part.rfind("key=", 0) == 0) && !part.empty()) {
      if (!out.empty()) out += '&';
      out += part;
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

std::string join_path(std::string_view base_path, std::string_view suffix) {
  std::string p(base_path == "/" ? "" : base_path);
  while (!p.empty() && p.back() == '/') p.pop_back();
  p += suffix;
  return p;
}

// The upstream URL of a pass-through to a base URL, parsed and joined once per thread and
// (base URL, operation) instead of on every attempt. Null when the base URL is unusable.
const upstream::url* passthrough_target(const std::string& base_url, protocol::wire_protocol proto,
                                        operation op) {
  struct entry {
    std::string base_url;
    protocol::wire_protocol proto;
    operation op;
    std::optional<upstream::url> target;
  };
  // Bounded: a reload with new URLs pushes the oldest entries out.
  static constexpr std::size_t max_entries = 64;
  thread_local std::vector<entry> cache;
  for (const auto& e : cache)
    if (e.op == op && e.proto == proto && e.base_url == base_url)
      return e.target ? &*e.target : nullptr;
  auto target = upstream::url::parse(base_url);
  if (target && target->path.find('?') == std::string::npos) {
    std::string suffix;
    if (proto == protocol::wire_protocol::openai) {
      // OPENAI_BASE_URL ends in /v1.
      suffix = op == operation::list_models ? "/models" : "/chat/completions";
    } else {
      // CLAUDE_BASE_URL is the bare origin.
      suffix = op == operation::list_models    ? "/v1/models"
               : op == operation::count_tokens ? "/v1/messages/count_tokens"
                                               : "/v1/messages";
    }
    target->path = join_path(target->path, suffix);
  } else {
    target.reset();
  }
  if (cache.size() >= max_entries) cache.erase(cache.begin());
  cache.push_back(entry{base_url, proto, op, std::move(target)});
  return cache.back().target ? &*cache.back().target : nullptr;
}

}  // namespace

std::optional<upstream::request> build_passthrough(const pool::instance& inst, passthrough_input in,
                                                   std::string* error) {
  const auto proto = native_protocol(inst.type);
  const upstream::url* target = proto ? passthrough_target(inst.base_url, *proto, in.op) : nullptr;
  if (!target) {
    const auto base = upstream::url::parse(inst.base_url);
    if (error) {
      *error = base && proto
                   ? "instance " + inst.uuid + " base URL must not carry a query"
                   : "instance " + inst.uuid + " of " + inst.type + " has an unusable base URL";
    }
    return std::nullopt;
  }
  upstream::request req;
  req.target = *target;
  req.headers.reserve(8);
  if (*proto == protocol::wire_protocol::openai) {
    req.headers.emplace_back("authorization", "Bearer " + inst.api_key);
  } else {
    req.headers.emplace_back("x-api-key", inst.api_key);
  }
  if (const std::string q = strip_key_param(in.query); !q.empty()) req.target.path += "?" + q;
  req.method = in.op == operation::list_models ? "GET" : "POST";
  bool has_version = false;
  if (in.client_headers) {
    for (const auto& [name, value] : *in.client_headers) {
      if (!forwardable(name, *proto)) continue;
      if (name == "anthropic-version") has_version = true;
      req.headers.emplace_back(name, value);
    }
  }
  if (*proto == protocol::wire_protocol::claude && !has_version)
    req.headers.emplace_back("anthropic-version", "2023-06-01");
  if (req.method == "POST") {
    req.headers.emplace_back("content-type", "application/json");
    req.body = std::move(in.body);
    req.borrowed_body = in.borrowed_body;
  }
  req.headers.emplace_back("accept", "application/json, text/event-stream");
  if (inst.type == "openai-qwen-oauth") {
    // The Qwen portal's own client identifies itself this way (PROVIDERS.md 2.2).
    static const std::string ua = "QwenCode/0.1.0 (linux; x64)";
    req.headers.emplace_back("user-agent", ua);
    req.headers.emplace_back("x-dashscope-useragent", ua);
    req.headers.emplace_back("x-dashscope-cachecontrol", "enable");
    req.headers.emplace_back("x-dashscope-authtype", "qwen-oauth");
  }
  return req;
}

void validate_instances(const pool::pools& p) {
  for (const auto& [type, list] : p.by_type) {
    if (type != "openai-custom" && type != "claude-custom") continue;
    const char* key = type == "openai-custom" ? "OPENAI_BASE_URL" : "CLAUDE_BASE_URL";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto u = upstream::url::parse(list[i].base_url);
      if (!u || u->path.find('?') != std::string::npos)
        throw config::config_error(type + "[" + std::to_string(i) + "]." + key +
                                   " is not a valid http(s) URL: " + list[i].base_url);
    }
  }
}

}  // namespace aiclient::provider
