#include "aiclient/provider/mock.hpp"

#include <chrono>

#include "aiclient/protocol/errors.hpp"

namespace aiclient::provider::mock {
namespace {

using protocol::append_json_string;
using protocol::wire_protocol;

std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

long long now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Splits text into pieces of one word each (the space stays with the word before it).
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ' ') {
      out.push_back(text.substr(start, i + 1 - start));
      start = i + 1;
    }
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

std::string sse(std::string_view data) {
  return "data: " + std::string(data) + "\n\n";
}
std::string sse(std::string_view event, std::string_view data) {
  return "event: " + std::string(event) + "\ndata: " + std::string(data) + "\n\n";
}

}  // namespace

std::string reply_text(std::string_view model, std::size_t request_bytes) {
  return "Hello from the aiclient-server mock provider. Model " + std::string(model) +
         ", request of " + std::to_string(request_bytes) + " bytes.";
}

std::string completion_json(wire_protocol p, std::string_view model, std::string_view text) {
  const auto n_out = words(text).size();
  switch (p) {
    case wire_protocol::openai:
      return R"({"id":"chatcmpl-mock","object":"chat.completion","created":)" +
             std::to_string(now_seconds()) + R"(,"model":)" + quoted(model) +
             R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)" + quoted(text) +
             R"(},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":)" +
             std::to_string(n_out) + R"(,"total_tokens":)" + std::to_string(n_out + 1) + "}}";
    case wire_protocol::claude:
      return R"({"id":"msg_mock","type":"message","role":"assistant","model":)" + quoted(model) +
             R"(,"content":[{"type":"text","text":)" + quoted(text) +
             R"(}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":)" +
             std::to_string(n_out) + "}}";
    case wire_protocol::gemini:
      return R"({"candidates":[{"content":{"role":"model","parts":[{"text":)" + quoted(text) +
             R"(}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":)" +
             std::to_string(n_out) + R"(,"totalTokenCount":)" + std::to_string(n_out + 1) +
             R"(},"modelVersion":)" + quoted(model) + "}";
  }
  return {};
}

std::vector<std::string> completion_stream(wire_protocol p, std::string_view model,
                                           std::string_view text) {
  std::vector<std::string> events;
  const auto pieces = words(text);
  const std::string m = quoted(model);
  switch (p) {
    case wire_protocol::openai: {
      const std::string head =
          R"({"id":"chatcmpl-mock","object":"chat.completion.chunk","created":)" +
          std::to_string(now_seconds()) + R"(,"model":)" + m + R"(,"choices":[{"index":0,"delta":)";
      events.push_back(sse(head + R"({"role":"assistant","content":""},"finish_reason":null}]})"));
      for (auto w : pieces)
        events.push_back(sse(head + R"({"content":)" + quoted(w) + R"(},"finish_reason":null}]})"));
      events.push_back(sse(head + R"({},"finish_reason":"stop"}]})"));
      events.push_back(sse("[DONE]"));
      break;
    }
    case wire_protocol::claude: {
      events.push_back(sse(
          "message_start",
          R"({"type":"message_start","message":{"id":"msg_mock","type":"message","role":"assistant","model":)" +
              m +
              R"(,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}})"));
      events.push_back(sse(
          "content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
      for (auto w : pieces)
        events.push_back(
            sse("content_block_delta",
                R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)" +
                    quoted(w) + "}}"));
      events.push_back(sse("content_block_stop", R"({"type":"content_block_stop","index":0})"));
      events.push_back(sse(
          "message_delta",
          R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":)" +
              std::to_string(pieces.size()) + "}}"));
      events.push_back(sse("message_stop", R"({"type":"message_stop"})"));
      break;
    }
    case wire_protocol::gemini: {
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        std::string chunk = R"({"candidates":[{"content":{"role":"model","parts":[{"text":)" +
                            quoted(pieces[i]) + "}]}";
        if (i + 1 == pieces.size()) chunk += R"(,"finishReason":"STOP")";
        chunk += R"(,"index":0}],"modelVersion":)" + m + "}";
        events.push_back(sse(chunk));
      }
      break;
    }
  }
  return events;
}

std::string models_json(wire_protocol p) {
  static const char* const ids[] = {"mock-model", "mock-model-large"};
  std::string out;
  switch (p) {
    case wire_protocol::openai:
      out = R"({"object":"list","data":[)";
      for (const char* id : ids) {
        if (out.back() != '[') out += ',';
        out += R"({"id":")" + std::string(id) +
               R"(","object":"model","created":0,"owned_by":"aiclient-server"})";
      }
      return out + "]}";
    case wire_protocol::claude:
      out = R"({"data":[)";
      for (const char* id : ids) {
        if (out.back() != '[') out += ',';
        out += R"({"type":"model","id":")" + std::string(id) + R"(","display_name":")" + id +
               R"(","created_at":"2026-01-01T00:00:00Z"})";
      }
      return out + R"(],"has_more":false,"first_id":"mock-model","last_id":"mock-model-large"})";
    case wire_protocol::gemini:
      out = R"({"models":[)";
      for (const char* id : ids) {
        if (out.back() != '[') out += ',';
        out += R"({"name":"models/)" + std::string(id) + R"(","displayName":")" + id +
               R"(","supportedGenerationMethods":["generateContent","streamGenerateContent"]})";
      }
      return out + "]}";
  }
  return out;
}

std::string count_tokens_json(std::size_t request_bytes, protocol::wire_protocol p) {
  const std::size_t n = request_bytes / 4 > 0 ? request_bytes / 4 : 1;
  return token_count_json(static_cast<std::int64_t>(n), p);
}

std::string token_count_json(std::int64_t n, protocol::wire_protocol p) {
  if (p == protocol::wire_protocol::gemini) return R"({"totalTokens":)" + std::to_string(n) + "}";
  return R"({"input_tokens":)" + std::to_string(n) + "}";
}

}  // namespace aiclient::provider::mock
