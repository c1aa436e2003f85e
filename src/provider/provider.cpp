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

// The upstream URL of a pass-through to `inst`: its base URL joined with the operation's path.
// nullopt, with `error` set, when the base URL is unusable.
std::optional<upstream::url> passthrough_url(const pool::instance& inst,
                                             protocol::wire_protocol proto, operation op,
                                             std::string* error) {
  auto target = upstream::url::parse(inst.base_url);
  if (!target) {
    if (error) *error = "instance " + inst.uuid + " of " + inst.type + " has an unusable base URL";
    return std::nullopt;
  }
  if (target->path.find('?') != std::string::npos) {
    if (error) *error = "instance " + inst.uuid + " base URL must not carry a query";
    return std::nullopt;
  }
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
  return target;
}

// The part of every pass-through to `inst` that does not depend on the client request: the
// target (without a query), the credentials and the fixed protocol headers.
upstream::request fixed_part(const pool::instance& inst, const upstream::url& target,
                             protocol::wire_protocol proto, operation op) {
  upstream::request req;
  req.target = target;
  req.headers.reserve(6);
  if (proto == protocol::wire_protocol::openai) {
    req.headers.emplace_back("authorization", "Bearer " + inst.api_key);
  } else {
    req.headers.emplace_back("x-api-key", inst.api_key);
  }
  req.method = op == operation::list_models ? "GET" : "POST";
  if (op != operation::list_models) req.headers.emplace_back("content-type", "application/json");
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

// fixed_part() of `inst` (its URL parsed and joined too), checked and formatted once per thread
// and operation: a pass-through then formats only the client's protocol headers and its length.
// Keyed by the instance's uuid and checked against what the head is made of, so a reload or a
// refreshed OAuth token replaces the entry.
std::shared_ptr<const upstream::prepared_head> prepared_for(const pool::instance& inst,
                                                            protocol::wire_protocol proto,
                                                            operation op, std::string* error) {
  struct entry {
    std::string uuid;
    std::string type;
    std::string base_url;
    std::string api_key;
    operation op;
    std::shared_ptr<const upstream::prepared_head> head;
  };
  static constexpr std::size_t max_entries = 64;  // shared_ptr: a dropped one may be in flight
  thread_local std::vector<entry> cache;
  entry* slot = nullptr;
  for (auto& e : cache) {
    if (e.op != op || e.uuid != inst.uuid) continue;
    if (e.api_key == inst.api_key && e.base_url == inst.base_url && e.type == inst.type)
      return e.head;
    slot = &e;  // the same instance with other credentials or URL: replaced
    break;
  }
  const auto target = passthrough_url(inst, proto, op, error);
  if (!target) return nullptr;
  std::string err;
  auto head = upstream::prepare(fixed_part(inst, *target, proto, op), &err);
  if (!head) {
    if (error) *error = "instance " + inst.uuid + " of " + inst.type + ": " + err;
    return nullptr;
  }
  if (!slot) {
    if (cache.size() >= max_entries) cache.erase(cache.begin());
    slot = &cache.emplace_back();
    slot->uuid = inst.uuid;
    slot->op = op;
  }
  slot->type = inst.type;
  slot->base_url = inst.base_url;
  slot->api_key = inst.api_key;
  slot->head = head;
  return head;
}

}  // namespace

bool build_passthrough(const pool::instance& inst, passthrough_input in, upstream::request& req,
                       std::string* error) {
  const auto proto = native_protocol(inst.type);
  if (!proto) {
    if (error) *error = "instance " + inst.uuid + " of " + inst.type + " has an unusable base URL";
    return false;
  }
  auto head = prepared_for(inst, *proto, in.op, error);
  if (!head) return false;
  if (const std::string q = strip_key_param(in.query); !q.empty()) {
    req = head->base;  // a one-off target: formatted by send()
    req.target.path += "?" + q;
  } else {
    req.prepared = std::move(head);
  }
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
  if (in.op != operation::list_models) {
    req.body = std::move(in.body);
    req.borrowed_body = in.borrowed_body;
  }
  return true;
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
