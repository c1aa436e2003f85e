#pragma once
// Helpers of the stream converter tests: run a converter over a fixture with any split, parse
// SSE output, and read a stream the way a client SDK would (reassembled message + structural
// problems found on the way).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/convert.hpp"
#include "aiclient/protocol/sse.hpp"
#include "support/test_paths.hpp"

namespace stream_test {

using aiclient::protocol::stream_converter;
using aiclient::protocol::stream_options;
using aiclient::protocol::wire_protocol;
using json = nlohmann::json;

/// tests/fixtures/streams/<name>.
inline std::string fixture(const std::string& name) {
  return aiclient::testing::read_fixture("streams/" + name);
}

/// How the upstream bytes are cut before feeding.
struct split {
  enum kind { whole, bytes, random } how = whole;
  unsigned seed = 0;
};

/// What ends the upstream: finish(), or fail(status, message) after the bytes.
struct ending {
  bool fail = false;
  int status = 502;
  std::string message;
};

/// Result of one conversion.
struct run_result {
  std::string out;
  bool failed = false;
  bool complete = false;
  std::vector<std::size_t> sizes;  ///< size of `out` after each feed() call
};

/// Feeds `upstream` to a new converter in pieces, then finishes (or fails) it.
inline run_result run(wire_protocol from, wire_protocol to, const stream_options& opts,
                      std::string_view upstream, split s = {}, const ending& end = {}) {
  auto conv = stream_converter::make(from, to, opts);
  run_result r;
  std::mt19937 rng(s.seed);
  std::uniform_int_distribution<std::size_t> piece(1, 97);
  for (std::size_t pos = 0; pos < upstream.size();) {
    std::size_t n = upstream.size() - pos;
    if (s.how == split::bytes) n = 1;
    if (s.how == split::random) n = std::min(n, piece(rng));
    conv->feed(upstream.substr(pos, n), r.out);
    r.sizes.push_back(r.out.size());
    pos += n;
  }
  r.complete = conv->upstream_complete();
  if (end.fail) {
    conv->fail(end.status, end.message, r.out);
  } else {
    conv->finish(r.out);
  }
  r.failed = conv->failed();
  return r;
}

/// One SSE event of a produced stream.
struct sse_msg {
  std::string event;
  std::string data;
};

/// Parses SSE bytes (strictly: the whole input must be complete events).
inline std::vector<sse_msg> parse_sse(std::string_view bytes) {
  aiclient::protocol::sse_parser parser;
  std::vector<sse_msg> out;
  parser.feed(bytes, [&](const aiclient::protocol::sse_event& e) {
    out.push_back({e.event, e.data});
  });
  parser.finish([&](const aiclient::protocol::sse_event& e) {
    ADD_FAILURE() << "SSE event without its closing blank line: " << e.data;
    out.push_back({e.event, e.data});
  });
  return out;
}

/// Parses JSON, recording a failure instead of throwing.
inline json parse_json(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) ADD_FAILURE() << "not JSON: " << text;
  return j;
}

/// The Gemini chunks of an alt=sse stream or of a JSON-array stream.
inline std::vector<json> gemini_chunks(std::string_view bytes, bool sse,
                                       std::vector<std::string>* problems = nullptr) {
  std::vector<json> chunks;
  if (sse) {
    for (const sse_msg& m : parse_sse(bytes)) {
      json j = parse_json(m.data);
      if (j.is_object() && j.contains("response") && j["response"].is_object()) {
        j = j["response"];  // Code Assist wrapper
      }
      chunks.push_back(j);
    }
    return chunks;
  }
  json arr = parse_json(bytes);
  if (!arr.is_array()) {
    if (problems) problems->push_back("the JSON stream is not one array");
    return chunks;
  }
  for (json& j : arr) chunks.push_back(j);
  return chunks;
}

/// A tool call as a client reassembles it.
struct tool_call {
  std::string id;
  std::string name;
  std::string arguments;  ///< raw JSON text as streamed
  json args() const {
    if (arguments.empty()) return json::object();
    return json::parse(arguments, nullptr, false);
  }
};

/// A streamed message as a client reassembles it.
struct message_view {
  std::string id;
  std::string model;
  std::string text;
  std::string thinking;
  std::string signatures;  ///< concatenated
  std::vector<tool_call> tools;
  std::string stop;  ///< canonical: end_turn, max_tokens, tool_use, stop_sequence, ...
  std::optional<std::int64_t> input, output, cached, reasoning;
  bool error = false;
  json error_body;          ///< the error object of the stream's error event
  bool terminated = false;  ///< the stream's own terminator was seen ([DONE], message_stop, "]")
  std::vector<std::string> problems;     ///< violations of the protocol's stream rules
  std::vector<std::string> event_types;  ///< Anthropic: event names in order
};

inline std::string canonical_stop(wire_protocol p, const std::string& s, bool tools) {
  if (p == wire_protocol::openai) {
    if (s == "stop") return "end_turn";
    if (s == "length") return "max_tokens";
    if (s == "tool_calls") return "tool_use";
    return s;
  }
  if (p == wire_protocol::gemini) {
    if (s == "STOP") return tools ? "tool_use" : "end_turn";
    if (s == "MAX_TOKENS") return "max_tokens";
    return s;
  }
  return s;
}

inline std::optional<std::int64_t> get_int(const json& j, const char* key) {
  if (j.is_object() && j.contains(key) && j[key].is_number_integer()) {
    return j[key].get<std::int64_t>();
  }
  return std::nullopt;
}

/// Reads an OpenAI chat.completion.chunk stream like the openai SDK's ChatCompletionStream.
inline message_view read_openai(std::string_view bytes) {
  message_view v;
  auto& bad = v.problems;
  std::map<std::int64_t, std::size_t> by_index;
  bool first_chunk = true;
  bool finished = false;
  std::string finish;
  const auto events = parse_sse(bytes);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const sse_msg& m = events[i];
    if (!m.event.empty()) bad.push_back("OpenAI events have no event: line");
    if (m.data == "[DONE]") {
      v.terminated = true;
      if (i + 1 != events.size()) bad.push_back("events after [DONE]");
      continue;
    }
    json c = parse_json(m.data);
    if (c.contains("error")) {
      v.error = true;
      v.error_body = c;
      continue;
    }
    if (v.error) bad.push_back("chunk after the error event");
    if (c.value("object", "") != "chat.completion.chunk") bad.push_back("object is not a chunk");
    if (!c.contains("id") || !c["id"].is_string()) bad.push_back("chunk without id");
    if (!c.contains("created") || !c["created"].is_number_integer()) {
      bad.push_back("chunk without created");
    }
    if (!c.contains("model") || !c["model"].is_string()) bad.push_back("chunk without model");
    if (v.id.empty() && c.contains("id") && c["id"].is_string()) v.id = c["id"];
    if (v.model.empty() && c.contains("model") && c["model"].is_string()) v.model = c["model"];
    if (c.contains("usage") && c["usage"].is_object()) {
      const json& u = c["usage"];
      v.input = get_int(u, "prompt_tokens");
      v.output = get_int(u, "completion_tokens");
      if (u.contains("prompt_tokens_details")) {
        v.cached = get_int(u["prompt_tokens_details"], "cached_tokens");
      }
      if (u.contains("completion_tokens_details")) {
        v.reasoning = get_int(u["completion_tokens_details"], "reasoning_tokens");
      }
      if (get_int(u, "total_tokens") !=
          std::optional<std::int64_t>(v.input.value_or(0) + v.output.value_or(0))) {
        bad.push_back("total_tokens is not prompt + completion");
      }
    }
    if (!c.contains("choices") || !c["choices"].is_array()) {
      bad.push_back("chunk without choices");
      continue;
    }
    if (c["choices"].empty()) {
      if (!c.contains("usage")) bad.push_back("empty choices without usage");
      continue;
    }
    const json& choice = c["choices"][0];
    if (choice.value("index", -1) != 0) bad.push_back("choice index is not 0");
    if (!choice.contains("finish_reason")) bad.push_back("choice without finish_reason");
    const json& d = choice.contains("delta") ? choice["delta"] : json::object();
    if (first_chunk) {
      if (d.value("role", "") != "assistant") bad.push_back("first delta has no role");
      first_chunk = false;
    }
    if (finished && !d.empty()) bad.push_back("delta after finish_reason");
    if (d.contains("content") && d["content"].is_string())
      v.text += d["content"].get<std::string>();
    for (const char* key : {"reasoning_content", "reasoning"}) {
      if (d.contains(key) && d[key].is_string()) v.thinking += d[key].get<std::string>();
    }
    if (d.contains("tool_calls")) {
      for (const json& t : d["tool_calls"]) {
        const std::int64_t index = t.value("index", -1);
        auto it = by_index.find(index);
        if (it == by_index.end()) {
          if (index != static_cast<std::int64_t>(v.tools.size())) {
            bad.push_back("tool call index " + std::to_string(index) + " is not the next");
          }
          if (!t.contains("id") || t.value("type", "") != "function" || !t.contains("function") ||
              !t["function"].contains("name")) {
            bad.push_back("first delta of a tool call lacks id/type/name");
          }
          tool_call call;
          call.id = t.value("id", "");
          if (t.contains("function")) call.name = t["function"].value("name", "");
          by_index[index] = v.tools.size();
          v.tools.push_back(call);
          it = by_index.find(index);
        }
        if (t.contains("function") && t["function"].contains("arguments")) {
          v.tools[it->second].arguments += t["function"]["arguments"].get<std::string>();
        }
      }
    }
    if (choice["finish_reason"].is_string()) {
      if (finished) bad.push_back("two finish_reason chunks");
      finished = true;
      finish = choice["finish_reason"];
    }
  }
  if (!v.error && !finished) bad.push_back("no finish_reason");
  v.stop = canonical_stop(wire_protocol::openai, finish, !v.tools.empty());
  return v;
}

/// Reads an Anthropic Messages stream like the @anthropic-ai/sdk MessageStream, checking the
/// event order rules (message_start first, block indices 0,1,2.. each stopped before the next
/// starts, message_delta then message_stop last).
inline message_view read_claude(std::string_view bytes) {
  message_view v;
  auto& bad = v.problems;
  std::optional<std::int64_t> open;
  std::int64_t next = 0;
  std::string open_type;
  bool delta_seen = false;
  std::int64_t input = 0, cache_read = 0, cache_creation = 0;
  bool has_input = false;
  std::vector<std::string> block_types;
  for (const sse_msg& m : parse_sse(bytes)) {
    json e = parse_json(m.data);
    const std::string type = e.value("type", "");
    if (m.event != type) bad.push_back("event name " + m.event + " != data type " + type);
    v.event_types.push_back(type);
    if (v.terminated) bad.push_back("event after message_stop");
    if (type == "ping") continue;
    if (type == "error") {
      v.error = true;
      v.error_body = e;
      continue;
    }
    if (v.error) bad.push_back("event after error");
    if (v.event_types.size() == 1 && type != "message_start") {
      bad.push_back("first event is not message_start");
    }
    if (type == "message_start") {
      if (v.event_types.size() != 1) bad.push_back("message_start is not first");
      const json& msg = e["message"];
      v.id = msg.value("id", "");
      v.model = msg.value("model", "");
      if (v.id.rfind("msg_", 0) != 0) bad.push_back("message id does not start with msg_");
      if (msg.value("role", "") != "assistant" || msg.value("type", "") != "message") {
        bad.push_back("message_start message lacks role/type");
      }
      const json& u = msg["usage"];
      if (auto n = get_int(u, "input_tokens")) input = *n, has_input = true;
      if (!u.contains("input_tokens")) bad.push_back("message_start usage without input_tokens");
      if (auto n = get_int(u, "cache_read_input_tokens")) cache_read = *n;
      if (auto n = get_int(u, "cache_creation_input_tokens")) cache_creation = *n;
      continue;
    }
    if (type == "content_block_start") {
      if (open) bad.push_back("block started while another is open");
      if (delta_seen) bad.push_back("block after message_delta");
      const std::int64_t index = e.value("index", -1);
      if (index != next) bad.push_back("block index " + std::to_string(index) + " is not next");
      open = index;
      ++next;
      const json& b = e["content_block"];
      open_type = b.value("type", "");
      block_types.push_back(open_type);
      if (open_type == "tool_use") {
        if (!b.contains("id") || !b.contains("name") ||
            b.value("input", json()) != json::object()) {
          bad.push_back("tool_use start lacks id/name/input {}");
        }
        v.tools.push_back({b.value("id", ""), b.value("name", ""), ""});
      } else if (open_type == "text") {
        v.text += b.value("text", "");
      } else if (open_type == "thinking") {
        v.thinking += b.value("thinking", "");
      }
      continue;
    }
    if (type == "content_block_delta") {
      if (!open || e.value("index", -1) != *open) bad.push_back("delta for a block not open");
      const json& d = e["delta"];
      const std::string dt = d.value("type", "");
      if (dt == "text_delta" && open_type == "text") {
        v.text += d.value("text", "");
      } else if (dt == "thinking_delta" && open_type == "thinking") {
        v.thinking += d.value("thinking", "");
      } else if (dt == "signature_delta" && open_type == "thinking") {
        v.signatures += d.value("signature", "");
      } else if (dt == "input_json_delta" && open_type == "tool_use") {
        v.tools.back().arguments += d.value("partial_json", "");
      } else {
        bad.push_back("delta " + dt + " in a " + open_type + " block");
      }
      continue;
    }
    if (type == "content_block_stop") {
      if (!open || e.value("index", -1) != *open) bad.push_back("stop for a block not open");
      open.reset();
      continue;
    }
    if (type == "message_delta") {
      if (open) bad.push_back("message_delta while a block is open");
      if (delta_seen) bad.push_back("two message_delta events");
      delta_seen = true;
      v.stop = e["delta"].value("stop_reason", "");
      const json& u = e["usage"];
      if (auto n = get_int(u, "input_tokens")) input = *n, has_input = true;
      if (auto n = get_int(u, "cache_read_input_tokens")) cache_read = *n;
      if (auto n = get_int(u, "cache_creation_input_tokens")) cache_creation = *n;
      v.output = get_int(u, "output_tokens");
      continue;
    }
    if (type == "message_stop") {
      if (!delta_seen) bad.push_back("message_stop without message_delta");
      v.terminated = true;
      continue;
    }
    bad.push_back("unknown event " + type);
  }
  if (has_input) v.input = input + cache_read + cache_creation;
  if (cache_read) v.cached = cache_read;
  return v;
}

/// Reads a Gemini stream like @google/genai (SSE chunks, or the JSON array when !sse).
inline message_view read_gemini(std::string_view bytes, bool sse = true) {
  message_view v;
  auto& bad = v.problems;
  if (!sse) {
    const std::string_view t = bytes;
    if (t.empty() || t.front() != '[' || t.back() != ']') bad.push_back("array not framed by []");
    v.terminated = !t.empty() && t.back() == ']';
  }
  const std::vector<json> chunks = gemini_chunks(bytes, sse, &bad);
  bool finished = false;
  std::string finish;
  for (const json& c : chunks) {
    if (c.contains("error")) {
      v.error = true;
      v.error_body = c;
      continue;
    }
    if (v.error) bad.push_back("chunk after the error");
    if (finished) bad.push_back("chunk after the finishReason chunk");
    if (c.contains("responseId") && v.id.empty()) v.id = c["responseId"];
    if (c.contains("modelVersion") && v.model.empty()) v.model = c["modelVersion"];
    if (c.contains("usageMetadata")) {
      const json& u = c["usageMetadata"];
      v.input = get_int(u, "promptTokenCount");
      const auto cand = get_int(u, "candidatesTokenCount");
      const auto thoughts = get_int(u, "thoughtsTokenCount");
      if (cand || thoughts) v.output = cand.value_or(0) + thoughts.value_or(0);
      v.reasoning = thoughts;
      v.cached = get_int(u, "cachedContentTokenCount");
    }
    if (!c.contains("candidates") || !c["candidates"].is_array() || c["candidates"].empty()) {
      bad.push_back("chunk without candidates");
      continue;
    }
    const json& cand = c["candidates"][0];
    if (cand.contains("content")) {
      const json& content = cand["content"];
      if (content.value("role", "") != "model") bad.push_back("content role is not model");
      for (const json& p : content.value("parts", json::array())) {
        if (p.contains("thoughtSignature"))
          v.signatures += p["thoughtSignature"].get<std::string>();
        if (p.contains("functionCall")) {
          const json& f = p["functionCall"];
          if (!f.contains("args") || !f["args"].is_object()) bad.push_back("args not an object");
          v.tools.push_back(
              {f.value("id", ""), f.value("name", ""), f.value("args", json::object()).dump()});
        } else if (p.value("thought", false)) {
          v.thinking += p.value("text", "");
        } else if (p.contains("text")) {
          v.text += p["text"].get<std::string>();
        }
      }
    }
    if (cand.contains("finishReason")) {
      finished = true;
      finish = cand["finishReason"];
    }
  }
  if (!v.error && !finished) bad.push_back("no finishReason");
  if (sse) v.terminated = finished;
  v.stop = canonical_stop(wire_protocol::gemini, finish, !v.tools.empty());
  return v;
}

/// Reads a stream of protocol `p`.
inline message_view read_stream(wire_protocol p, std::string_view bytes, bool gemini_sse = true) {
  switch (p) {
    case wire_protocol::openai:
      return read_openai(bytes);
    case wire_protocol::claude:
      return read_claude(bytes);
    case wire_protocol::gemini:
      return read_gemini(bytes, gemini_sse);
  }
  return {};
}

/// Replaces the values of fields that are generated per run (ids, created) so that two runs
/// can be compared byte for byte.
inline std::string mask_volatile(std::string s) {
  static const std::regex id(R"re("(id|responseId)":"[^"]*")re");
  static const std::regex created(R"re("created":\d+)re");
  s = std::regex_replace(s, id, R"("$1":"*")");
  return std::regex_replace(s, created, R"("created":0)");
}

/// True when `actual` matches `expected`, where an expected string ending with '*' matches any
/// string with that prefix (any value at all for "*"): for ids and timestamps made per run.
inline bool matches(const json& expected, const json& actual, std::string path, std::string& why) {
  if (expected.is_string()) {
    const std::string& e = expected.get_ref<const std::string&>();
    if (!e.empty() && e.back() == '*') {
      if (e == "*") return true;
      if (actual.is_string() &&
          actual.get_ref<const std::string&>().rfind(e.substr(0, e.size() - 1), 0) == 0) {
        return true;
      }
      why = path + ": " + actual.dump() + " does not match " + e;
      return false;
    }
  }
  if (expected.is_object() && actual.is_object()) {
    for (const auto& [k, ev] : expected.items()) {
      if (!actual.contains(k)) {
        why = path + "." + k + " is missing";
        return false;
      }
      if (!matches(ev, actual[k], path + "." + k, why)) return false;
    }
    for (const auto& [k, av] : actual.items()) {
      if (!expected.contains(k)) {
        why = path + "." + k + " is unexpected: " + av.dump();
        return false;
      }
    }
    return true;
  }
  if (expected.is_array() && actual.is_array()) {
    if (expected.size() != actual.size()) {
      why = path + ": " + std::to_string(actual.size()) + " elements instead of " +
            std::to_string(expected.size());
      return false;
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
      if (!matches(expected[i], actual[i], path + "[" + std::to_string(i) + "]", why)) {
        return false;
      }
    }
    return true;
  }
  if (expected != actual) {
    why = path + ": " + actual.dump() + " instead of " + expected.dump();
    return false;
  }
  return true;
}

}  // namespace stream_test
