#include "aiclient/server/handler.hpp"

#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "aiclient/protocol/errors.hpp"
#include "aiclient/protocol/request_body.hpp"
#include "aiclient/protocol/sse.hpp"
#include "aiclient/provider/mock.hpp"
#include "aiclient/provider/provider.hpp"
#include "aiclient/server/router.hpp"
#include "aiclient/util/strings.hpp"

namespace aiclient::server {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using protocol::wire_protocol;
using clock_type = std::chrono::steady_clock;

const char* endpoint_name(endpoint e) {
  switch (e) {
    case endpoint::chat_completions: return "chat_completions";
    case endpoint::messages: return "messages";
    case endpoint::count_tokens: return "count_tokens";
    case endpoint::models: return "models";
    case endpoint::gemini_generate: return "gemini_generate";
    case endpoint::gemini_stream: return "gemini_stream";
    case endpoint::gemini_models: return "gemini_models";
    case endpoint::health: return "health";
    case endpoint::unknown: break;
  }
  return "unknown";
}

std::vector<header> json_headers() { return {{"content-type", "application/json"}}; }

std::vector<header> sse_headers() {
  return {{"content-type", "text/event-stream"}, {"cache-control", "no-cache"},
          {"x-accel-buffering", "no"}};
}

// Upstream response headers worth passing on to the client.
bool relayable_header(std::string_view name) {
  return name == "content-type" || name == "retry-after" || name == "request-id" ||
         name == "x-request-id" || name == "openai-processing-ms" ||
         util::istarts_with(name, "x-ratelimit-") || util::istarts_with(name, "anthropic-ratelimit-");
}

// The "message" of an upstream error body in any of the three protocols' shapes, or a
// printable prefix of the body.
std::string upstream_error_message(std::string_view body) {
  auto doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (!doc.is_discarded()) {
    const nlohmann::json* e = &doc;
    if (doc.is_array() && !doc.empty()) e = &doc[0];  // Gemini sometimes wraps errors in arrays
    if (e->is_object() && e->contains("error")) {
      const auto& err = (*e)["error"];
      if (err.is_object() && err.contains("message") && err["message"].is_string())
        return err["message"].get<std::string>();
      if (err.is_string()) return err.get<std::string>();
    }
    if (e->is_object() && e->contains("message") && (*e)["message"].is_string())
      return (*e)["message"].get<std::string>();
  }
  std::string text(body.substr(0, 300));
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return text.empty() ? std::string("(empty body)") : text;
}

int status_for_failure(upstream::failure f) {
  switch (f) {
    case upstream::failure::connect_timeout:
    case upstream::failure::first_byte_timeout:
    case upstream::failure::idle_timeout: return 504;
    default: return 502;
  }
}

std::string health_json() {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return R"({"status":"healthy","version":")" AICLIENT_VERSION R"(","timestamp":)" +
         std::to_string(now) + "}";
}

// Relays an upstream answer to the client. Returns the status sent.
awaitable<void> relay(handler_env& env, upstream::response& resp, wire_protocol proto,
                      const std::string& provider, client_channel& ch, access_record& rec) {
  const int status = resp.status();
  auto& token = ch.disconnect_token();
  std::vector<header> headers;
  for (auto& [name, value] : resp.headers()) {
    std::string lname = util::to_lower(name);
    if (relayable_header(lname)) headers.emplace_back(std::move(lname), std::move(value));
  }
  const bool event_stream = util::istarts_with(resp.header_value("content-type"), "text/event-stream");

  if (status >= 400) {
    auto [f, body] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
    if (token.cancelled()) co_return;
    const std::string msg = f == upstream::failure::none ? upstream_error_message(body)
                                                         : std::string(upstream::to_string(f));
    rec.error = "upstream " + std::to_string(status);
    if (status >= 500 || status == 401 || status == 403) {
      // The upstream's own failure (or our credentials there): a gateway error that keeps the
      // upstream status and message.
      rec.status = 502;
      co_await send_error(ch, proto, 502,
                          provider + " upstream answered HTTP " + std::to_string(status) + ": " + msg);
      co_return;
    }
    // A client-side error (400, 404, 413, 422, 429...) in the same protocol: pass it on.
    if (f != upstream::failure::none) {
      rec.status = status;
      co_await send_error(ch, proto, status, msg);
      co_return;
    }
    rec.status = status;
    co_await ch.send_response(status, std::move(headers), std::move(body));
    co_return;
  }

  if (!event_stream) {
    auto [f, body] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
    if (token.cancelled()) co_return;
    if (f != upstream::failure::none) {
      rec.status = status_for_failure(f);
      rec.error = std::string(upstream::to_string(f));
      co_await send_error(ch, proto, rec.status,
                          provider + " upstream response failed: " + std::string(upstream::to_string(f)));
      co_return;
    }
    rec.status = status;
    co_await ch.send_response(status, std::move(headers), std::move(body));
    co_return;
  }

  // Server-sent events: relay event by event as they arrive, never a partial event.
  rec.status = status;
  headers.emplace_back("cache-control", "no-cache");
  headers.emplace_back("x-accel-buffering", "no");
  if (!co_await ch.begin_stream(status, std::move(headers))) co_return;
  protocol::sse_framer framer;
  for (;;) {
    auto [f, piece] = co_await resp.read_some();
    if (token.cancelled() || f == upstream::failure::aborted) co_return;
    if (f != upstream::failure::none) {
      rec.error = "stream " + std::string(upstream::to_string(f));
      co_await ch.send_chunk(protocol::stream_error_event(
          proto, status_for_failure(f),
          provider + " upstream stream failed: " + std::string(upstream::to_string(f))));
      co_await ch.end_stream();
      co_return;
    }
    if (piece.empty()) {
      const std::string_view rest = framer.take_all();
      if (!rest.empty() && !co_await ch.send_chunk(rest)) co_return;
      co_await ch.end_stream();
      co_return;
    }
    framer.feed(piece);
    const std::string_view complete = framer.take_complete();
    if (!complete.empty() && !co_await ch.send_chunk(complete)) {
      resp.abort();
      co_return;
    }
    if (framer.pending_size() > env.settings.max_sse_event_bytes) {
      resp.abort();
      rec.error = "sse event too large";
      co_await ch.send_chunk(protocol::stream_error_event(
          proto, 502, provider + " upstream sent an event larger than MAX_SSE_EVENT_BYTES"));
      co_await ch.end_stream();
      co_return;
    }
  }
}

// Local answers of the mock provider.
awaitable<void> serve_mock(handler_env& env, const route& r, incoming_request& req,
                           const protocol::body_summary& summary, client_channel& ch,
                           access_record& rec) {
  rec.instance = "mock";
  if (r.ep == endpoint::models || r.ep == endpoint::gemini_models) {
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), provider::mock::models_json(r.proto));
    co_return;
  }
  if (r.ep == endpoint::count_tokens) {
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), provider::mock::count_tokens_json(req.body.size()));
    co_return;
  }
  const std::string model = r.proto == wire_protocol::gemini
                                ? r.gemini_model
                                : (summary.model.empty() ? std::string("mock-model") : summary.model);
  const std::string text = provider::mock::reply_text(model, req.body.size());
  const bool stream = r.ep == endpoint::gemini_stream || (r.proto != wire_protocol::gemini && summary.stream);
  rec.status = 200;
  if (!stream) {
    co_await ch.send_response(200, json_headers(), provider::mock::completion_json(r.proto, model, text));
    co_return;
  }
  auto events = provider::mock::completion_stream(r.proto, model, text);
  if (r.proto == wire_protocol::gemini && util::query_param(req.query, "alt") != "sse") {
    // Without alt=sse Gemini streams one JSON array, element by element.
    if (!co_await ch.begin_stream(200, json_headers())) co_return;
    for (std::size_t i = 0; i < events.size(); ++i) {
      std::string_view e = events[i];
      e.remove_prefix(6);  // "data: "
      e.remove_suffix(2);  // "\n\n"
      std::string part = (i == 0 ? "[" : ",\r\n") + std::string(e);
      if (i + 1 == events.size()) part += "]";
      if (!co_await ch.send_chunk(part)) co_return;
    }
    co_await ch.end_stream();
    co_return;
  }
  if (!co_await ch.begin_stream(200, sse_headers())) co_return;
  for (const auto& e : events)
    if (!co_await ch.send_chunk(e)) co_return;
  co_await ch.end_stream();
}

}  // namespace

awaitable<bool> send_error(client_channel& ch, wire_protocol proto, int status,
                           std::string_view message, std::vector<header> extra) {
  auto headers = json_headers();
  for (auto& h : extra) headers.push_back(std::move(h));
  co_return co_await ch.send_response(status, std::move(headers),
                                      protocol::error_body(proto, status, message));
}

awaitable<void> handle_request(handler_env& env, incoming_request& req, client_channel& ch,
                               access_record& rec) {
  const bool anthropic_client = !req.header_value("anthropic-version").empty();
  const route r = match_route(req.method, req.path, anthropic_client);
  rec.route = endpoint_name(r.ep);

  if (r.ep == endpoint::unknown) {
    rec.status = 404;
    co_await send_error(ch, r.proto, 404, "no route for " + req.method + " " + std::string(req.path));
    co_return;
  }
  if (!r.method_allowed) {
    rec.status = 405;
    // (headers built outside the co_await: GCC 12 miscompiles string literals in braced
    // initialisers inside co_await expressions)
    std::vector<header> allow;
    allow.emplace_back("allow", std::string(r.allowed_method));
    co_await send_error(ch, r.proto, 405,
                        "method " + req.method + " is not allowed here; use " + std::string(r.allowed_method),
                        std::move(allow));
    co_return;
  }
  if (r.ep == endpoint::health) {
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), health_json());
    co_return;
  }
  if (!client_authorized(req.headers, req.query, env.settings.required_api_key)) {
    rec.status = 401;
    co_await send_error(ch, r.proto, 401, "invalid or missing API key");
    co_return;
  }

  // Provider: Model-Provider header > path prefix > MODEL_PROVIDER.
  std::string provider_type(req.header_value("model-provider"));
  if (provider_type.empty()) provider_type = r.provider;
  if (provider_type.empty()) provider_type = env.settings.model_provider;
  rec.provider = provider_type;
  const auto& known = config::known_provider_types();
  if (std::find(known.begin(), known.end(), provider_type) == known.end()) {
    rec.status = 400;
    co_await send_error(ch, r.proto, 400, "unknown provider type \"" + provider_type + "\"");
    co_return;
  }
  if (!provider::is_supported(provider_type)) {
    rec.status = 501;
    co_await send_error(ch, r.proto, 501,
                        "provider type " + provider_type + " is not supported by this build yet");
    co_return;
  }

  protocol::body_summary summary;
  if (req.method == "POST") {
    auto inspected = protocol::inspect_body(r.proto, req.body);
    if (!inspected.summary) {
      rec.status = 400;
      co_await send_error(ch, r.proto, 400, inspected.error);
      co_return;
    }
    summary = std::move(*inspected.summary);
    if (env.prompts && env.prompts->enabled())
      env.prompts->record(req.id, provider_type, req.path, req.body);
  }

  if (provider_type == "mock") {
    co_await serve_mock(env, r, req, summary, ch, rec);
    co_return;
  }

  const auto native = provider::native_protocol(provider_type);
  if (r.proto == wire_protocol::gemini || !native || *native != r.proto) {
    rec.status = 501;
    co_await send_error(ch, r.proto, 501,
                        std::string("converting ") + std::string(protocol::to_string(r.proto)) +
                            " requests for the " + provider_type +
                            " provider is not supported yet (use a provider that speaks the same protocol)");
    co_return;
  }

  const pool::instance* inst = env.pools.first(provider_type);
  if (!inst) {
    rec.status = 503;
    co_await send_error(ch, r.proto, 503,
                        "no usable instance of provider " + provider_type +
                            " (none configured, or all unhealthy or disabled)");
    co_return;
  }
  rec.instance = inst->uuid;

  provider::passthrough_input in;
  in.op = r.ep == endpoint::models         ? provider::operation::list_models
          : r.ep == endpoint::count_tokens ? provider::operation::count_tokens
                                           : provider::operation::generate;
  in.query = req.query;
  in.client_headers = &req.headers;
  if (!env.settings.system_prompt.empty() &&
      (r.ep == endpoint::chat_completions || r.ep == endpoint::messages)) {
    protocol::body_edits edits;
    edits.system_prompt = env.settings.system_prompt;
    edits.mode = env.settings.system_prompt_mode;
    std::string err;
    auto edited = protocol::apply_edits(r.proto, req.body, edits, &err);
    if (!edited) {
      rec.status = 400;
      co_await send_error(ch, r.proto, 400, err);
      co_return;
    }
    in.body = std::move(*edited);
  } else {
    in.body = std::move(req.body);
  }

  std::string err;
  auto upstream_req = provider::build_passthrough(*inst, in, &err);
  if (!upstream_req) {
    rec.status = 502;
    co_await send_error(ch, r.proto, 502, err);
    co_return;
  }

  const auto t0 = clock_type::now();
  auto result = co_await env.upstream.send(std::move(*upstream_req), &ch.disconnect_token());
  rec.upstream_latency = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
  if (ch.disconnect_token().cancelled()) {
    rec.status = 499;
    rec.error = "client closed the connection";
    co_return;
  }
  if (result.error != upstream::failure::none) {
    rec.status = status_for_failure(result.error);
    rec.error = std::string(upstream::to_string(result.error));
    spdlog::warn("[{}] {} upstream {}: {}", req.id, provider_type, upstream::to_string(result.error),
                 result.detail);
    // The message is built before the co_await: GCC 12 destroys temporaries of a ?: inside a
    // co_await expression twice.
    std::string msg = provider_type + " upstream " + std::string(upstream::to_string(result.error));
    if (!result.detail.empty()) msg += ": " + result.detail;
    co_await send_error(ch, r.proto, rec.status, msg);
    co_return;
  }
  co_await relay(env, *result.resp, r.proto, provider_type, ch, rec);
  if (ch.disconnect_token().cancelled() && rec.error.empty()) rec.error = "client closed the connection";
}

}  // namespace aiclient::server
