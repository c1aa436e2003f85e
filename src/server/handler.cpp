#include "aiclient/server/handler.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <random>
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "admin.hpp"
#include "aiclient/auth/token_manager.hpp"
#include "aiclient/protocol/canonical.hpp"
#include "aiclient/protocol/code_assist.hpp"
#include "aiclient/protocol/convert.hpp"
#include "aiclient/protocol/errors.hpp"
#include "aiclient/protocol/kiro.hpp"
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
using namespace std::string_view_literals;

const char* endpoint_name(endpoint e) {
  switch (e) {
    case endpoint::chat_completions:
      return "chat_completions";
    case endpoint::messages:
      return "messages";
    case endpoint::count_tokens:
      return "count_tokens";
    case endpoint::models:
      return "models";
    case endpoint::gemini_generate:
      return "gemini_generate";
    case endpoint::gemini_stream:
      return "gemini_stream";
    case endpoint::gemini_models:
      return "gemini_models";
    case endpoint::health:
      return "health";
    case endpoint::provider_health:
      return "provider_health";
    case endpoint::admin:
      return "admin";
    case endpoint::unknown:
      break;
  }
  return "unknown";
}

std::span<const header_view> json_headers() {
  static constexpr std::array<header_view, 1> headers{{{"content-type", "application/json"}}};
  return headers;
}

std::span<const header_view> sse_headers() {
  static constexpr std::array<header_view, 3> headers{{{"content-type", "text/event-stream"},
                                                       {"cache-control", "no-cache"},
                                                       {"x-accel-buffering", "no"}}};
  return headers;
}

// Upstream response headers worth passing on to the client. Sorted by first letter, so that
// the common others (server, date, content-length, connection...) cost one or two compares.
bool relayable_header(std::string_view name) {
  if (name.empty()) return false;
  switch (name[0]) {
    case 'c':
    case 'C':
      return util::iequals(name, "content-type");
    case 'r':
    case 'R':
      return util::iequals(name, "retry-after") || util::iequals(name, "request-id");
    case 'x':
    case 'X':
      return util::iequals(name, "x-request-id") || util::istarts_with(name, "x-ratelimit-");
    case 'o':
    case 'O':
      return util::iequals(name, "openai-processing-ms");
    case 'a':
    case 'A':
      return util::istarts_with(name, "anthropic-ratelimit-");
    default:
      return false;
  }
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
    case upstream::failure::idle_timeout:
      return 504;
    default:
      return 502;
  }
}

std::string health_json() {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return R"({"status":"healthy","version":")" AICLIENT_VERSION R"(","timestamp":)" +
         std::to_string(now) + "}";
}

// Upstream response headers passed on to the client, as views into the response (the session
// writes names in lower case).
std::vector<header_view> relayed_header_views(upstream::response& resp) {
  return resp.header_views(relayable_header);
}

// The same, copied with lower-case names, for an answer kept beyond its response.
std::vector<header> relayed_headers(upstream::response& resp) {
  std::vector<header> headers = resp.headers(relayable_header);
  for (auto& h : headers) {
    util::lower_in_place(h.first);
  }
  return headers;
}

// Relays a successful (2xx) upstream answer to the client. Returns false when the upstream
// broke off mid-way (an in-band error event was sent), true otherwise.
awaitable<bool> relay_success(handler_env& env, upstream::response& resp, wire_protocol proto,
                              const std::string& provider, client_channel& ch, access_record& rec) {
  const int status = resp.status();
  auto& token = ch.disconnect_token();
  std::vector<header_view> headers = relayed_header_views(resp);
  const bool event_stream =
      util::istarts_with(resp.header_value("content-type"), "text/event-stream");
  rec.status = status;

  if (!event_stream) {
    auto [f, body] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
    if (token.cancelled()) co_return true;
    if (f != upstream::failure::none) {
      rec.status = status_for_failure(f);
      rec.error = std::string(upstream::to_string(f));
      std::string msg =
          provider + " upstream response failed: " + std::string(upstream::to_string(f));
      co_await send_error(ch, proto, rec.status, std::move(msg));
      co_return false;
    }
    co_await ch.send_response(status, headers, std::move(body));
    co_return true;
  }

  // Server-sent events: relay event by event as they arrive, never a partial event.
  headers.emplace_back("cache-control", "no-cache");
  headers.emplace_back("x-accel-buffering", "no");
  if (!co_await ch.begin_stream(status, headers)) co_return true;
  protocol::sse_framer framer;
  for (;;) {
    auto [f, piece] = co_await resp.read_some();
    if (token.cancelled() || f == upstream::failure::aborted) co_return true;
    if (f != upstream::failure::none) {
      rec.error = "stream " + std::string(upstream::to_string(f));
      std::string event = protocol::stream_error_event(
          proto, status_for_failure(f),
          provider + " upstream stream failed: " + std::string(upstream::to_string(f)));
      co_await ch.send_chunk(event);
      co_await ch.end_stream();
      co_return false;
    }
    if (piece.empty()) {
      const std::string_view rest = framer.take_all();
      if (!rest.empty() && !co_await ch.send_chunk(rest)) co_return true;
      co_await ch.end_stream();
      co_return true;
    }
    framer.feed(piece);
    const std::string_view complete = framer.take_complete();
    if (!complete.empty() && !co_await ch.send_chunk(complete)) {
      resp.abort();
      co_return true;
    }
    if (framer.pending_size() > env.settings.max_sse_event_bytes) {
      resp.abort();
      rec.error = "sse event too large";
      std::string event = protocol::stream_error_event(
          proto, 502, provider + " upstream sent an event larger than MAX_SSE_EVENT_BYTES");
      co_await ch.send_chunk(event);
      co_await ch.end_stream();
      co_return false;
    }
  }
}

// Relays a successful (2xx) upstream answer of protocol `from` converted into the client's
// protocol `to`. Returns false when the upstream broke off mid-way or its answer could not be
// converted (the client got an error), true otherwise.
awaitable<bool> relay_converted(handler_env& env, upstream::response& resp, wire_protocol from,
                                wire_protocol to, const protocol::stream_options& so,
                                const std::string& provider, client_channel& ch, access_record& rec,
                                bool code_assist = false) {
  auto& token = ch.disconnect_token();
  const bool event_stream =
      util::istarts_with(resp.header_value("content-type"), "text/event-stream");
  rec.status = resp.status();

  if (!event_stream) {
    auto [f, body] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
    if (token.cancelled()) co_return true;
    if (f != upstream::failure::none) {
      rec.status = status_for_failure(f);
      rec.error = std::string(upstream::to_string(f));
      std::string msg =
          provider + " upstream response failed: " + std::string(upstream::to_string(f));
      co_await send_error(ch, to, rec.status, std::move(msg));
      co_return false;
    }
    if (code_assist) {
      if (auto inner = protocol::code_assist_unwrap(body)) body = std::move(*inner);
    }
    auto converted = protocol::convert_response(from, to, body, so.model);
    if (!converted.ok()) {
      rec.status = 502;
      rec.error = "unconvertible upstream answer";
      std::string msg = provider + " upstream answer could not be converted: " + converted.error;
      co_await send_error(ch, to, 502, std::move(msg));
      co_return false;
    }
    co_await ch.send_response(resp.status(), json_headers(), std::move(converted.body));
    co_return true;
  }

  auto converter = protocol::stream_converter::make(from, to, so);
  const std::span<const header_view> headers =
      (to == wire_protocol::gemini && !so.gemini_sse) ? json_headers() : sse_headers();
  if (!co_await ch.begin_stream(resp.status(), headers)) co_return true;
  std::string out;
  for (;;) {
    auto [f, piece] = co_await resp.read_some();
    if (token.cancelled() || f == upstream::failure::aborted) co_return true;
    out.clear();
    if (f != upstream::failure::none) {
      rec.error = "stream " + std::string(upstream::to_string(f));
      converter->fail(status_for_failure(f),
                      provider + " upstream stream failed: " + std::string(upstream::to_string(f)),
                      out);
      co_await ch.send_chunk(out);
      co_await ch.end_stream();
      co_return false;
    }
    if (piece.empty()) {
      const bool complete = converter->upstream_complete();
      if (complete) {
        converter->finish(out);
      } else {
        rec.error = "stream ended early";
        converter->fail(502, provider + " upstream stream ended before its final event", out);
      }
      if (!out.empty() && !co_await ch.send_chunk(out)) co_return true;
      co_await ch.end_stream();
      co_return complete;
    }
    converter->feed(piece, out);
    if (!out.empty() && !co_await ch.send_chunk(out)) {
      resp.abort();
      co_return true;
    }
    if (converter->failed()) {
      // The upstream sent an error event (already converted into the client's).
      resp.abort();
      rec.error = "upstream error event";
      co_await ch.end_stream();
      co_return false;
    }
  }
}

// Relays a Code Assist (gemini-cli-oauth) answer to a Gemini client: each {"response": ...}
// wrapper removed, streamed as SSE or as one JSON array as the client asked.
awaitable<bool> relay_code_assist(handler_env& env, upstream::response& resp,
                                  const protocol::stream_options& so, const std::string& provider,
                                  client_channel& ch, access_record& rec) {
  auto& token = ch.disconnect_token();
  const auto to = wire_protocol::gemini;
  const bool event_stream =
      util::istarts_with(resp.header_value("content-type"), "text/event-stream");
  rec.status = resp.status();
  if (!event_stream) {
    auto [f, body] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
    if (token.cancelled()) co_return true;
    auto inner = f == upstream::failure::none ? protocol::code_assist_unwrap(body) : std::nullopt;
    if (!inner) {
      rec.status = 502;
      std::string msg = provider + " upstream answer could not be read";
      co_await send_error(ch, to, 502, std::move(msg));
      co_return false;
    }
    co_await ch.send_response(resp.status(), json_headers(), std::move(*inner));
    co_return true;
  }
  // (not a ?: inside the co_await: GCC 12 destroys such temporaries twice)
  std::span<const header_view> stream_headers = json_headers();
  if (so.gemini_sse) stream_headers = sse_headers();
  if (!co_await ch.begin_stream(resp.status(), stream_headers)) co_return true;
  protocol::sse_parser parser(env.settings.max_sse_event_bytes);
  bool first = true;
  std::string out;
  const auto emit = [&](const protocol::sse_event& e) {
    if (e.data.empty() || e.data == "[DONE]") return;
    auto inner = protocol::code_assist_unwrap(e.data);
    if (!inner) return;
    if (so.gemini_sse) {
      out += "data: " + *inner + "\n\n";
    } else {
      out += first ? "[" : ",\r\n";
      out += *inner;
    }
    first = false;
  };
  for (;;) {
    auto [f, piece] = co_await resp.read_some();
    if (token.cancelled() || f == upstream::failure::aborted) co_return true;
    out.clear();
    if (f != upstream::failure::none || parser.failed()) {
      std::string msg =
          provider + " upstream stream failed: " + std::string(upstream::to_string(f));
      if (so.gemini_sse) {
        out += protocol::stream_error_event(to, status_for_failure(f), msg);
      } else {
        out += first ? "[" : ",\r\n";
        out += protocol::error_body(to, status_for_failure(f), msg) + "]";
      }
      co_await ch.send_chunk(out);
      co_await ch.end_stream();
      co_return false;
    }
    if (piece.empty()) {
      parser.finish(emit);
      if (!so.gemini_sse) out += first ? "[]" : "]";
      if (!out.empty() && !co_await ch.send_chunk(out)) co_return true;
      co_await ch.end_stream();
      co_return true;
    }
    parser.feed(piece, emit);
    if (!out.empty() && !co_await ch.send_chunk(out)) {
      resp.abort();
      co_return true;
    }
  }
}

// Relays a Kiro answer (binary AWS event-stream) to the client: converted event by event when
// the client streams, aggregated into one response otherwise. Returns false when the upstream
// broke off or sent an error.
awaitable<bool> relay_kiro(handler_env& env, upstream::response& resp, wire_protocol to,
                           const protocol::stream_options& so, bool client_stream,
                           const protocol::kiro::decode_options& kopts, const std::string& provider,
                           client_channel& ch, access_record& rec) {
  auto& token = ch.disconnect_token();
  rec.status = resp.status();
  if (!client_stream) {
    auto [f, body] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
    if (token.cancelled()) co_return true;
    protocol::canonical_response cr;
    std::string json;
    std::string err;
    if (f != upstream::failure::none) {
      err = std::string(upstream::to_string(f));
    } else {
      const auto de = protocol::kiro::aggregate_response(body, kopts, cr);
      if (!de.ok())
        err = de.message;
      else
        err = protocol::encode_response(to, cr, json);
    }
    if (!err.empty()) {
      rec.status = 502;
      rec.error = "kiro answer";
      std::string msg = provider + " upstream answer failed: " + err;
      co_await send_error(ch, to, 502, std::move(msg));
      co_return false;
    }
    co_await ch.send_response(200, json_headers(), std::move(json));
    co_return true;
  }
  protocol::kiro::kiro_stream_converter converter(to, so, kopts);
  std::span<const header_view> stream_headers = sse_headers();
  if (to == wire_protocol::gemini && !so.gemini_sse) stream_headers = json_headers();
  if (!co_await ch.begin_stream(200, stream_headers)) co_return true;
  std::string out;
  for (;;) {
    auto [f, piece] = co_await resp.read_some();
    if (token.cancelled() || f == upstream::failure::aborted) co_return true;
    out.clear();
    if (f != upstream::failure::none) {
      converter.fail(status_for_failure(f),
                     provider + " upstream stream failed: " + std::string(upstream::to_string(f)),
                     out);
      co_await ch.send_chunk(out);
      co_await ch.end_stream();
      co_return false;
    }
    if (piece.empty()) {
      const bool complete = converter.upstream_complete();
      if (complete)
        converter.finish(out);
      else
        converter.fail(502, provider + " upstream stream ended in the middle of a frame", out);
      if (!out.empty() && !co_await ch.send_chunk(out)) co_return true;
      co_await ch.end_stream();
      co_return complete;
    }
    converter.feed(piece, out);
    if (!out.empty() && !co_await ch.send_chunk(out)) {
      resp.abort();
      co_return true;
    }
    if (converter.failed()) {
      resp.abort();
      co_await ch.end_stream();
      co_return false;
    }
  }
}

// Local answers of the mock provider.
awaitable<void> serve_mock(handler_env& env, const route& r, incoming_request& req,
                           const protocol::body_summary& summary, std::size_t body_bytes,
                           client_channel& ch, access_record& rec) {
  if (rec.instance.empty()) rec.instance = "mock";
  if (r.ep == endpoint::models || r.ep == endpoint::gemini_models) {
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), provider::mock::models_json(r.proto));
    co_return;
  }
  if (r.ep == endpoint::count_tokens) {
    rec.status = 200;
    co_await ch.send_response(200, json_headers(),
                              provider::mock::count_tokens_json(body_bytes, r.proto));
    co_return;
  }
  const std::string model =
      r.proto == wire_protocol::gemini
          ? r.gemini_model
          : (summary.model.empty() ? std::string("mock-model") : summary.model);
  const std::string text = provider::mock::reply_text(model, body_bytes);
  const bool stream =
      r.ep == endpoint::gemini_stream || (r.proto != wire_protocol::gemini && summary.stream);
  rec.status = 200;
  if (!stream) {
    co_await ch.send_response(200, json_headers(),
                              provider::mock::completion_json(r.proto, model, text));
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

// One failed attempt whose answer the client gets if no later attempt succeeds.
struct failed_attempt {
  int status = 502;
  std::string message;          ///< for a gateway error in the client's shape
  std::vector<header> headers;  ///< for a relayed upstream answer
  std::string body;             ///< relayed as is when `relay` is set
  bool relay = false;
};

// Sends the answer of the last failed attempt.
awaitable<void> send_failed(client_channel& ch, wire_protocol proto, failed_attempt& f,
                            access_record& rec) {
  rec.status = f.status;
  if (f.relay) {
    co_await ch.send_response(f.status, std::move(f.headers), std::move(f.body));
    co_return;
  }
  co_await send_error(ch, proto, f.status, std::move(f.message), std::move(f.headers));
}

// Exponential backoff with +-50% jitter, capped at 30 s.
std::chrono::milliseconds backoff_delay(int base_ms, int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  const double base = double(base_ms) * double(1u << std::min(attempt - 1, 10));
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::min(base * jitter(rng), 30000.0)));
}

// Google RPC errors carry RetryInfo {"retryDelay":"0.539s"} (or "539ms").
std::optional<std::chrono::seconds> google_retry_delay(std::string_view body) {
  const auto key = body.find("\"retryDelay\"");
  if (key == std::string_view::npos) return std::nullopt;
  const auto open = body.find('"', body.find(':', key) + 1);
  if (open == std::string_view::npos) return std::nullopt;
  const auto close = body.find('"', open + 1);
  if (close == std::string_view::npos) return std::nullopt;
  const std::string v(body.substr(open + 1, close - open - 1));
  char* end = nullptr;
  const double n = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || n < 0) return std::nullopt;
  const double secs = std::string_view(end) == "ms" ? n / 1000.0 : n;
  return std::chrono::seconds(static_cast<long long>(secs + 0.999));
}

// Qwen's daily quota resets at midnight in UTC+8 (16:00 UTC).
std::chrono::seconds until_next_utc8_midnight(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const auto shifted = now + hours(8);
  const auto next_day = floor<days>(shifted) + days(1);
  return duration_cast<seconds>(next_day - shifted);
}

std::string no_instance_message(const pool::pick_result& pick) {
  return pick.message.empty() ? std::string("no eligible instance") : pick.message;
}

// The Gemini "contents" array (JSON text) of a count_tokens request, built as generateContent
// builds its request: an Anthropic body converted to Gemini, a Gemini body's own contents (or
// those of its generateContentRequest). "" with `why` when there is none.
std::string gemini_contents(wire_protocol proto, const std::string& body, const std::string& model,
                            std::string& why) {
  std::string gemini_body;
  if (proto == wire_protocol::gemini) {
    gemini_body = body;
  } else {
    protocol::request_options ro;
    ro.model = model;
    auto converted = protocol::convert_request(proto, wire_protocol::gemini, body, ro);
    if (!converted.ok()) {
      why = "the request cannot be converted: " + converted.error;
      return {};
    }
    gemini_body = std::move(converted.body);
  }
  using ordered = nlohmann::ordered_json;  // the contents keep their key order
  const auto doc = ordered::parse(gemini_body, nullptr, false);
  const ordered* source = &doc;
  if (doc.is_object() && !doc.contains("contents") && doc.contains("generateContentRequest"))
    source = &doc["generateContentRequest"];
  if (!source->is_object() || !source->contains("contents") || !(*source)["contents"].is_array()) {
    why = "the request has no contents";
    return {};
  }
  return (*source)["contents"].dump(-1, ' ', false, ordered::error_handler_t::replace);
}

// count_tokens routed to gemini-cli-oauth: Code Assist's countTokens (through the token manager,
// which refreshes the token after a 401 and tries once more), answered in the client's shape.
// When that cannot be had (no instance, no token, an upstream error), the local estimate answers
// instead, as for the other non-Anthropic upstreams: a count is advisory, and clients (Claude
// Code) should not fail on it. The pool state is left alone either way.
awaitable<void> count_code_assist_tokens(handler_env& env, const route& r, const std::string& type,
                                         const std::string& model, const std::string& body,
                                         const std::string& request_id, client_channel& ch,
                                         access_record& rec) {
  std::string why;
  std::optional<std::int64_t> total;
  const std::string contents = gemini_contents(r.proto, body, model, why);
  if (!contents.empty()) {
    const pool::pick_result pick = env.pools.pick(type, model);
    if (!pick.inst) {
      why = no_instance_message(pick);
    } else if (!env.tokens) {
      why = "no token manager";
    } else {
      rec.instance = pick.inst->uuid;
      const std::string upstream_model = pick.inst->upstream_model(model);
      auth::token_count counted =
          co_await env.tokens->count_code_assist_tokens(pick.inst, upstream_model, contents);
      total = counted.total;
      why = std::move(counted.error);
    }
  }
  std::string answer;
  if (total) {
    answer = provider::mock::token_count_json(*total, r.proto);
  } else {
    spdlog::debug("[{}] {} count_tokens: {}; answering with the local estimate", request_id, type,
                  why);
    answer = provider::mock::count_tokens_json(body.size(), r.proto);
  }
  rec.status = 200;
  co_await ch.send_response(200, json_headers(), std::move(answer));
}

}  // namespace

awaitable<bool> send_error(client_channel& ch, wire_protocol proto, int status, std::string message,
                           std::vector<header> extra) {
  const auto json = json_headers();
  std::vector<header_view> headers(json.begin(), json.end());
  for (const auto& h : extra)
    headers.emplace_back(h.first, h.second);  // `extra` outlives the write
  std::string body = protocol::error_body(proto, status, message);
  co_return co_await ch.send_response(status, headers, std::move(body));
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  value = util::trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::seconds(999999999);
    return std::chrono::seconds(std::stoll(std::string(value)));
  }
  // HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT".
  std::tm tm{};
  const std::string v(value);
  if (!::strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(::timegm(&tm));
  if (at <= now) return std::chrono::seconds(0);
  return std::chrono::duration_cast<std::chrono::seconds>(at - now);
}

awaitable<void> handle_request(handler_env& env, incoming_request& req, client_channel& ch,
                               access_record& rec) {
  const bool anthropic_client = !req.header_value("anthropic-version").empty();
  const route r = match_route(req.method, req.path, anthropic_client);
  rec.route = endpoint_name(r.ep);

  if (r.ep == endpoint::unknown) {
    rec.status = 404;
    co_await send_error(ch, r.proto, 404,
                        "no route for " + req.method + " " + std::string(req.path));
    co_return;
  }
  if (!r.method_allowed) {
    rec.status = 405;
    // (headers built outside the co_await: GCC 12 miscompiles string literals in braced
    // initialisers inside co_await expressions)
    std::vector<header> allow;
    allow.emplace_back("allow", std::string(r.allowed_method));
    co_await send_error(
        ch, r.proto, 405,
        "method " + req.method + " is not allowed here; use " + std::string(r.allowed_method),
        std::move(allow));
    co_return;
  }
  if (r.ep == endpoint::health) {
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), health_json());
    co_return;
  }
  if (r.ep == endpoint::admin) {
    co_await handle_admin(env, req, ch, rec);
    co_return;
  }
  if (!client_authorized(req.headers, req.query, env.settings.required_api_key)) {
    rec.status = 401;
    co_await send_error(ch, r.proto, 401, "invalid or missing API key");
    co_return;
  }
  if (r.ep == endpoint::provider_health) {
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), provider_health_json(env.pools, false));
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

  protocol::body_summary summary;
  // The body's parse, kept from the inspection for a conversion of the same bytes (one simdjson
  // stage 1 per request instead of two); released once no conversion of these bytes follows.
  protocol::parsed_body parsed;
  if (req.method == "POST"sv) {
    auto inspected = protocol::inspect_body(r.proto, req.body, req.body.capacity(), parsed);
    if (!inspected.summary) {
      rec.status = 400;
      co_await send_error(ch, r.proto, 400, inspected.error);
      co_return;
    }
    summary = std::move(*inspected.summary);
    if (env.prompts && env.prompts->enabled())
      env.prompts->record(req.id, provider_type, req.path, req.body);
  }
  std::string model = r.proto == wire_protocol::gemini ? r.gemini_model : summary.model;
  // "provider:model" chooses the pool when neither the header nor the path did.
  bool strip_model_prefix = false;
  if (req.header_value("model-provider").empty() && r.provider.empty()) {
    if (const auto colon = model.find(':'); colon != std::string::npos) {
      const std::string prefix = model.substr(0, colon);
      if (std::find(known.begin(), known.end(), prefix) != known.end()) {
        provider_type = prefix;
        rec.provider = prefix;
        model = model.substr(colon + 1);
        strip_model_prefix = r.proto != wire_protocol::gemini;
      }
    }
  }
  const bool client_stream =
      r.ep == endpoint::gemini_stream || (r.proto != wire_protocol::gemini && summary.stream);

  // The provider types to try: the chosen one, then its fallback chain.
  std::vector<std::string> chain{provider_type};
  if (auto it = env.settings.provider_fallback_chain.find(provider_type);
      it != env.settings.provider_fallback_chain.end())
    chain.insert(chain.end(), it->second.begin(), it->second.end());
  const auto can_serve = [&](const std::string& type) {
    return type == "mock"sv || provider::is_supported(type);
  };

  // Edited body (system prompt), computed once for every attempt.
  std::string body;
  const bool inject_prompt = !env.settings.system_prompt.empty() &&
                             (r.ep == endpoint::chat_completions || r.ep == endpoint::messages ||
                              r.ep == endpoint::gemini_generate || r.ep == endpoint::gemini_stream);
  if (inject_prompt || strip_model_prefix) {
    protocol::body_edits edits;
    if (inject_prompt) edits.system_prompt = env.settings.system_prompt;
    if (strip_model_prefix) edits.model = model;
    edits.mode = env.settings.system_prompt_mode;
    parsed.release();  // the conversion reads the edited body
    std::string err;
    auto edited = protocol::apply_edits(r.proto, req.body, req.body.capacity(), edits, &err);
    if (!edited) {
      rec.status = 400;
      co_await send_error(ch, r.proto, 400, err);
      co_return;
    }
    body = std::move(*edited);
  } else {
    body = std::move(req.body);
  }

  std::optional<failed_attempt> last;
  std::optional<pool::pick_result> first_no_pick;
  int total_attempts = 0;
  auto& token = ch.disconnect_token();
  for (const std::string& type : chain) {
    if (!can_serve(type)) {
      if (type == provider_type)
        last = failed_attempt{
            501, "provider type " + type + " is not supported by this build yet", {}, {}, false};
      continue;
    }
    rec.provider = type;
    // Same protocol: pass-through. Otherwise the body is converted once for this type.
    const wire_protocol native = type == "mock"sv ? r.proto : *provider::native_protocol(type);
    // Kiro speaks its own API: every request is rebuilt from the canonical model.
    const bool convert = native != r.proto && type != "claude-kiro-oauth"sv;
    // Only a conversion of the body uses its parse: not held through other paths' I/O.
    if (!convert || r.ep == endpoint::count_tokens) parsed.release();
    std::string upstream_body;
    if (type == "gemini-cli-oauth"sv &&
        (r.ep == endpoint::models || r.ep == endpoint::gemini_models)) {
      // Code Assist has no model list: the models it serves.
      static const std::string list =
          R"({"models":[{"name":"models/gemini-2.5-pro","displayName":"Gemini 2.5 Pro","supportedGenerationMethods":["generateContent","streamGenerateContent"]},)"
          R"({"name":"models/gemini-2.5-flash","displayName":"Gemini 2.5 Flash","supportedGenerationMethods":["generateContent","streamGenerateContent"]}]})";
      auto converted = convert ? protocol::convert_models(wire_protocol::gemini, r.proto, list)
                               : protocol::convert_result{list, {}};
      rec.status = 200;
      co_await ch.send_response(200, json_headers(), std::move(converted.body));
      co_return;
    }
    if (type == "claude-kiro-oauth"sv &&
        (r.ep == endpoint::models || r.ep == endpoint::gemini_models)) {
      // Kiro's own list needs a profile; the Claude models it maps (docs/providers.md).
      static const std::string list =
          R"({"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},)"
          R"({"type":"model","id":"claude-sonnet-4","display_name":"Claude Sonnet 4","created_at":"2025-05-14T00:00:00Z"},)"
          R"({"type":"model","id":"claude-haiku-4-5","display_name":"Claude Haiku 4.5","created_at":"2025-10-01T00:00:00Z"}],"has_more":false})";
      auto converted = r.proto == wire_protocol::claude
                           ? protocol::convert_result{list, {}}
                           : protocol::convert_models(wire_protocol::claude, r.proto, list);
      rec.status = 200;
      co_await ch.send_response(200, json_headers(), std::move(converted.body));
      co_return;
    }
    if (type == "gemini-cli-oauth"sv && r.ep == endpoint::count_tokens) {
      co_await count_code_assist_tokens(env, r, type, model, body, req.id, ch, rec);
      co_return;
    }
    if ((convert || type == "claude-kiro-oauth"sv) && r.ep == endpoint::count_tokens) {
      // Only Anthropic upstreams and Code Assist count tokens: a documented local estimate
      // otherwise, in the client's shape.
      rec.status = 200;
      co_await ch.send_response(200, json_headers(),
                                provider::mock::count_tokens_json(body.size(), r.proto));
      co_return;
    }
    if (convert && req.method == "POST"sv) {
      protocol::request_options ro;
      ro.model = model;
      ro.stream = client_stream;
      const std::size_t allocated = body.capacity();
      auto converted = protocol::convert_request(r.proto, native, body, allocated, ro, &parsed);
      if (!converted.ok()) {
        rec.status = 400;
        co_await send_error(ch, r.proto, 400, converted.error);
        co_return;
      }
      upstream_body = std::move(converted.body);
    }
    parsed.release();  // not held while the request is upstream
    protocol::stream_options so;
    so.model = model;
    so.include_usage = summary.include_usage;
    so.gemini_sse = util::query_param(req.query, "alt") == "sse";
    so.max_event_bytes = env.settings.max_sse_event_bytes;
    std::vector<std::string> tried;
    const bool oauth = !auth::creds_field(type).empty();
    std::shared_ptr<const pool::instance> reuse;  // the same instance again, after a 401
    bool auth_retried = false;
    bool force_refresh = false;
    // Each type of the chain gets its own REQUEST_MAX_RETRIES budget.
    int attempt = 0;
    while (attempt <= env.settings.request_max_retries || reuse) {
      if (attempt > 0 && !reuse) {
        asio::steady_timer timer(co_await asio::this_coro::executor,
                                 backoff_delay(env.settings.request_base_delay_ms, attempt));
        token.set_callback([&timer] { timer.cancel(); });
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        token.clear_callback();
        if (token.cancelled()) {
          rec.status = 499;
          rec.error = "client closed the connection";
          co_return;
        }
      }
      pool::pick_result pick;
      const bool auth_retry = reuse != nullptr;
      if (auth_retry) {
        pick.inst = std::move(reuse);
        reuse.reset();
      } else {
        pick = env.pools.pick(type, model, tried);
      }
      if (!pick.inst) {
        if (type == "mock"sv && pick.reason == pool::no_pick_reason::no_instances) {
          // No mock instance configured: the built-in one answers.
          co_await serve_mock(env, r, req, summary, body.size(), ch, rec);
          co_return;
        }
        if (!first_no_pick) first_no_pick = pick;
        break;  // next type of the chain
      }
      if (!auth_retry) {
        ++attempt;
        ++total_attempts;
        tried.push_back(pick.inst->uuid);
      }
      rec.attempts = total_attempts;
      const pool::instance& inst = *pick.inst;
      rec.instance = inst.uuid;

      // OAuth types: a fresh access token (refreshed ahead of expiry, or forced after a 401)
      // and the API base the credentials name.
      pool::instance oauth_inst;
      const pool::instance* target = &inst;
      std::map<std::string, std::string> kiro_facts;
      protocol::kiro::decode_options kiro_decoding;
      if (oauth) {
        if (!env.tokens) {
          last = failed_attempt{503, type + " needs the token manager", {}, {}, false};
          break;
        }
        auto tr = co_await env.tokens->get(pick.inst, force_refresh);
        force_refresh = false;
        if (token.cancelled()) {
          rec.status = 499;
          co_return;
        }
        if (!tr.tok) {
          env.pools.report(
              type, inst.uuid,
              {tr.permanent ? pool::outcome::kind::fatal : pool::outcome::kind::failure,
               "credentials: " + tr.error,
               {}});
          last = failed_attempt{
              502, type + " credentials of instance " + inst.uuid + ": " + tr.error, {}, {}, false};
          rec.error = "credentials";
          continue;
        }
        oauth_inst = inst;
        oauth_inst.api_key = tr.tok->access_token;
        kiro_facts = tr.tok->facts;
        oauth_inst.base_url = inst.field("QWEN_BASE_URL");
        if (oauth_inst.base_url.empty()) oauth_inst.base_url = tr.tok->facts["base_url"];
        target = &oauth_inst;
      }

      if (type == "mock"sv) {
        co_await serve_mock(env, r, req, summary, body.size(), ch, rec);
        env.pools.report(type, inst.uuid, {pool::outcome::kind::success, {}, {}});
        co_return;
      }

      provider::passthrough_input in;
      in.op = (r.ep == endpoint::models || r.ep == endpoint::gemini_models)
                  ? provider::operation::list_models
              : r.ep == endpoint::count_tokens ? provider::operation::count_tokens
                                               : provider::operation::generate;
      // Gemini's query (alt=sse, key=) is not for other protocols' upstreams.
      const provider::operation op = in.op;  // `in` is moved into the upstream request below
      in.query = r.proto == wire_protocol::gemini ? std::string_view() : req.query;
      in.client_headers = &req.headers;
      // Borrowed, not copied: both outlive every attempt (a 115 KB body is not copied per try).
      in.borrowed_body = convert ? std::string_view(upstream_body) : std::string_view(body);
      // modelMapping of the instance: the upstream gets its own name for the model.
      if (const std::string mapped = inst.upstream_model(model);
          mapped != model && req.method == "POST"sv) {
        std::string err;
        if (convert) {
          protocol::request_options ro;
          ro.model = mapped;
          ro.stream = client_stream;
          auto converted = protocol::convert_request(r.proto, native, body, ro);
          if (converted.ok())
            in.body = std::move(converted.body);
          else
            err = converted.error;
        } else if (r.proto != wire_protocol::gemini) {
          protocol::body_edits edits;
          edits.model = mapped;
          auto edited = protocol::apply_edits(r.proto, body, edits, &err);
          if (edited) in.body = std::move(*edited);
        }
        if (!err.empty()) {
          rec.status = 400;
          co_await send_error(ch, r.proto, 400, err);
          co_return;
        }
      }
      std::string err;
      // Built in place: a request is several strings, moved only into the client's frame.
      upstream::request upstream_req;
      bool built = true;
      if (type == "gemini-cli-oauth"sv) {
        auto [project, perr] = co_await env.tokens->resolve_gemini_project(pick.inst);
        if (token.cancelled()) {
          rec.status = 499;
          co_return;
        }
        if (!perr.empty()) {
          env.pools.report(type, inst.uuid, {pool::outcome::kind::failure, "project: " + perr, {}});
          last = failed_attempt{502, type + " instance " + inst.uuid + ": " + perr, {}, {}, false};
          continue;
        }
        std::string base = inst.field("GEMINI_CODE_ASSIST_BASE");
        if (base.empty()) base = env.tokens->urls().gemini_code_assist_base;
        auto u = upstream::url::parse(
            base + (client_stream ? ":streamGenerateContent?alt=sse" : ":generateContent"));
        if (!u) {
          last = failed_attempt{
              502,
              type + " instance " + inst.uuid + " has an unusable GEMINI_CODE_ASSIST_BASE",
              {},
              {},
              false};
          continue;
        }
        upstream::request& g = upstream_req;
        g.target = *u;
        const std::string upstream_model = inst.upstream_model(model);
        g.headers.emplace_back("authorization", "Bearer " + target->api_key);
        g.headers.emplace_back("content-type", "application/json");
        g.headers.emplace_back("user-agent",
                               "GeminiCLI/0.56.0/" + upstream_model + " (linux; x64)");
        g.body =
            protocol::code_assist_wrap(upstream_model, project, convert ? upstream_body : body);
      } else if (type == "claude-kiro-oauth"sv) {
        protocol::canonical_request q;
        if (std::string derr = protocol::decode_request(r.proto, body, q); !derr.empty()) {
          rec.status = 400;
          co_await send_error(ch, r.proto, 400, derr);
          co_return;
        }
        q.stream = client_stream;
        protocol::kiro::build_options bo;
        bo.model = model;
        bo.profile_arn = kiro_facts["profile_arn"];
        protocol::kiro::model_map overrides(inst.model_mapping.begin(), inst.model_mapping.end());
        bo.model_overrides = &overrides;
        auto built = protocol::kiro::build_request(q, bo);
        if (!built.ok()) {
          rec.status = 400;
          co_await send_error(ch, r.proto, 400, built.error);
          co_return;
        }
        kiro_decoding = built.decoding(model);
        std::string base = inst.field("KIRO_BASE_URL");
        if (base.empty()) base = env.settings.kiro_base_url;
        if (base.empty()) base = "https://q.{region}.amazonaws.com";
        if (const auto at = base.find("{region}"); at != std::string::npos)
          base.replace(at, 8, kiro_facts["region"]);
        auto u = upstream::url::parse(base + "/generateAssistantResponse");
        if (!u) {
          last = failed_attempt{502,
                                type + " instance " + inst.uuid + " has an unusable KIRO_BASE_URL",
                                {},
                                {},
                                false};
          continue;
        }
        upstream::request& k = upstream_req;
        k.target = *u;
        for (auto& h :
             protocol::kiro::request_headers(target->api_key, kiro_facts["machine_id"], "0.11.107"))
          k.headers.push_back(std::move(h));
        k.body = std::move(built.body);
      } else {
        built = provider::build_passthrough(*target, std::move(in), upstream_req, &err);
      }
      if (!built) {
        env.pools.report(type, inst.uuid, {pool::outcome::kind::failure, err, {}});
        last = failed_attempt{502, err, {}, {}, false};
        continue;
      }

      const auto t0 = clock_type::now();
      auto result = co_await env.upstream.send(std::move(upstream_req), &token);
      rec.upstream_latency =
          std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
      if (token.cancelled()) {
        rec.status = 499;
        rec.error = "client closed the connection";
        co_return;
      }
      if (result.error != upstream::failure::none) {
        std::string what = std::string(upstream::to_string(result.error));
        spdlog::warn("[{}] {} instance {} upstream {}: {}", req.id, type, inst.uuid, what,
                     result.detail);
        env.pools.report(type, inst.uuid, {pool::outcome::kind::failure, what, {}});
        std::string msg = type + " upstream " + what;
        if (!result.detail.empty()) msg += ": " + result.detail;
        last = failed_attempt{status_for_failure(result.error), std::move(msg), {}, {}, false};
        rec.error = what;
        continue;
      }

      auto& resp = *result.resp;
      const int status = resp.status();
      if (status < 400) {
        bool complete;
        if (type == "claude-kiro-oauth"sv) {
          complete = co_await relay_kiro(env, resp, r.proto, so, client_stream, kiro_decoding, type,
                                         ch, rec);
        } else if (type == "gemini-cli-oauth"sv && !convert) {
          complete = co_await relay_code_assist(env, resp, so, type, ch, rec);
        } else if (!convert) {
          complete = co_await relay_success(env, resp, r.proto, type, ch, rec);
        } else if (op == provider::operation::list_models) {
          auto [f, list] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
          auto converted = f == upstream::failure::none
                               ? protocol::convert_models(native, r.proto, list)
                               : protocol::convert_result{{}, std::string(upstream::to_string(f))};
          complete = converted.ok();
          if (complete) {
            rec.status = status;
            co_await ch.send_response(status, json_headers(), std::move(converted.body));
          } else {
            rec.status = 502;
            std::string msg = type + " model list could not be read: " + converted.error;
            co_await send_error(ch, r.proto, 502, std::move(msg));
          }
        } else {
          complete = co_await relay_converted(env, resp, native, r.proto, so, type, ch, rec,
                                              type == "gemini-cli-oauth");
        }
        if (complete || token.cancelled()) {
          env.pools.report(type, inst.uuid, {pool::outcome::kind::success, {}, {}});
        } else {
          env.pools.report(type, inst.uuid, {pool::outcome::kind::failure, rec.error, {}});
        }
        co_return;
      }

      // An upstream error: read its body to learn why (bounded), then decide.
      auto [f, err_body] = co_await resp.read_all(env.settings.upstream_max_response_bytes);
      if (token.cancelled()) {
        rec.status = 499;
        co_return;
      }
      const std::string upstream_msg = f == upstream::failure::none
                                           ? upstream_error_message(err_body)
                                           : std::string(upstream::to_string(f));
      rec.error = "upstream " + std::to_string(status);
      if (type == "claude-kiro-oauth"sv) {
        const auto info =
            protocol::kiro::classify_error(status, err_body, resp.header_value("x-amzn-errortype"));
        using act = protocol::kiro::error_action;
        if (info.action == act::refresh_and_retry && !auth_retried) {
          auth_retried = true;
          force_refresh = true;
          reuse = pick.inst;
          continue;
        }
        if (info.action == act::client_error) {
          env.pools.report(type, inst.uuid, {pool::outcome::kind::client_error, {}, {}});
          rec.status = info.client_status;
          co_await send_error(ch, r.proto, info.client_status, info.message);
          co_return;
        }
        if (info.action == act::quota_exhausted && info.cooldown_until) {
          // Until the reset Kiro named, beyond RATE_LIMIT_COOLDOWN_MAX_MS.
          pool::outcome parked{pool::outcome::kind::rate_limited, info.message, {}};
          parked.quota_reset = *info.cooldown_until;
          env.pools.report(type, inst.uuid, parked);
          last = failed_attempt{429, type + ": " + info.message, {}, {}, false};
          continue;
        }
        if (info.action == act::transient && status == 429) {
          env.pools.report(type, inst.uuid,
                           {pool::outcome::kind::rate_limited, info.message, std::nullopt});
          last = failed_attempt{429, type + ": " + info.message, {}, {}, false};
          continue;
        }
        env.pools.report(type, inst.uuid,
                         {pool::outcome::kind::failure,
                          "HTTP " + std::to_string(status) + ": " + info.message,
                          {}});
        last = failed_attempt{
            502,
            type + " upstream answered HTTP " + std::to_string(status) + ": " + info.message,
            {},
            {},
            false};
        continue;
      }
      if (status == 429) {
        auto retry_after =
            parse_retry_after(resp.header_value("retry-after"), std::chrono::system_clock::now());
        if (type == "gemini-cli-oauth"sv && !retry_after)
          retry_after = google_retry_delay(err_body);
        const bool daily_quota = type == "openai-qwen-oauth"sv && !retry_after &&
                                 err_body.find("insufficient_quota") != std::string::npos;
        if (daily_quota) retry_after = until_next_utc8_midnight(std::chrono::system_clock::now());
        pool::outcome limited{pool::outcome::kind::rate_limited, upstream_msg, retry_after};
        // A daily quota parks the instance until its reset, beyond RATE_LIMIT_COOLDOWN_MAX_MS.
        if (daily_quota) limited.quota_reset = std::chrono::system_clock::now() + *retry_after;
        env.pools.report(type, inst.uuid, limited);
        failed_attempt fa{429, upstream_msg, relayed_headers(resp), std::move(err_body),
                          f == upstream::failure::none && !convert};
        if (!fa.relay) {  // in the client's shape; keep only the retry hint
          std::vector<header> keep;
          for (auto& h : fa.headers)
            if (h.first == "retry-after") keep.push_back(std::move(h));
          fa.headers = std::move(keep);
        }
        last = std::move(fa);
        continue;
      }
      if (status == 401 && oauth && !auth_retried) {
        // The token was refused: refresh it (single-flight) and try the same instance once more.
        auth_retried = true;
        force_refresh = true;
        reuse = pick.inst;
        continue;
      }
      if (status >= 500 || status == 401 || status == 403) {
        // The upstream's own failure (or our credentials there): counts against the
        // instance; the client gets a gateway error keeping the upstream status and message.
        std::string msg =
            type + " upstream answered HTTP " + std::to_string(status) + ": " + upstream_msg;
        env.pools.report(type, inst.uuid,
                         {pool::outcome::kind::failure,
                          "HTTP " + std::to_string(status) + ": " + upstream_msg,
                          {}});
        last = failed_attempt{502, std::move(msg), {}, {}, false};
        continue;
      }
      // A client-side error (400, 404, 413, 422...) in the same protocol: the client's own
      // fault, passed on as it is, and not retried.
      env.pools.report(type, inst.uuid, {pool::outcome::kind::client_error, {}, {}});
      rec.status = status;
      if (f != upstream::failure::none || convert) {
        co_await send_error(ch, r.proto, status, upstream_msg);
      } else {
        const std::vector<header_view> headers = relayed_header_views(resp);  // resp outlives it
        co_await ch.send_response(status, headers, std::move(err_body));
      }
      co_return;
    }
  }

  if (last) {
    co_await send_failed(ch, r.proto, *last, rec);
    co_return;
  }
  // No attempt at all: nothing eligible anywhere in the chain.
  rec.status = 503;
  std::string msg = first_no_pick ? no_instance_message(*first_no_pick)
                                  : "no instance of " + provider_type + " is configured";
  rec.error = "no eligible instance";
  std::vector<header> extra;
  if (first_no_pick && first_no_pick->next_cooldown_end) {
    const auto wait = std::chrono::duration_cast<std::chrono::seconds>(
        *first_no_pick->next_cooldown_end - std::chrono::system_clock::now());
    extra.emplace_back("retry-after", std::to_string(std::max<long long>(1, wait.count() + 1)));
  }
  co_await send_error(ch, r.proto, 503, std::move(msg), std::move(extra));
}

}  // namespace aiclient::server
