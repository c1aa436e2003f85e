// Canonical stream events -> OpenAI chat.completion.chunk SSE.
//
//   data: {"id","object":"chat.completion.chunk","created","model",
//          "choices":[{"index":0,"delta":{...},"finish_reason":null}]}
// The first chunk carries the role; text -> content, thinking -> reasoning_content; a tool_use
// block -> tool_calls[{index: position of the call in this message, id, type, function{name,
// arguments:""}}], then one chunk per argument piece. The end: a chunk with an empty delta and
// the finish_reason, a usage chunk ("choices":[]) when include_usage, and data: [DONE].
// Thinking signatures and redacted thinking have no OpenAI field: they are dropped.
#include <ctime>
#include <vector>

#include "aiclient/protocol/convert.hpp"
#include "aiclient/protocol/errors.hpp"
#include "stream_internal.hpp"

namespace aiclient::protocol::stream_detail {

namespace {

class openai_encoder final : public stream_encoder {
 public:
  explicit openai_encoder(const stream_options& opts)
      : model_(opts.model), include_usage_(opts.include_usage) {}

  void encode(const stream_event& e, std::string& out) override {
    if (done_) return;
    switch (e.type) {
      case stream_event_type::message_start:
        start(e.id, e.name, out);
        break;
      case stream_event_type::block_start:
        start({}, {}, out);
        block_start(e, out);
        break;
      case stream_event_type::block_delta:
        start({}, {}, out);
        block_delta(e, out);
        break;
      case stream_event_type::block_stop:
        block_stop(e.index, out);
        break;
      case stream_event_type::message_delta:
        start({}, {}, out);
        if (e.stop) stop_ = *e.stop;
        tokens_ = e.tokens;
        finish_chunks(out);
        break;
      case stream_event_type::message_stop:
        finish(out);
        break;
      case stream_event_type::error:
        fail(e.status ? e.status : 500, e.text, out);
        break;
      case stream_event_type::ping:
        break;
    }
  }

  void finish(std::string& out) override {
    if (done_) return;
    start({}, {}, out);
    finish_chunks(out);
    out += "data: [DONE]\n\n";
    done_ = true;
  }

  void fail(int status, std::string_view message, std::string& out) override {
    if (done_) return;
    out += stream_error_event(wire_protocol::openai, status, message);  // ends with [DONE]
    done_ = true;
  }

  bool done() const noexcept override { return done_; }

 private:
  struct tool {
    std::uint32_t block;
    std::uint32_t position;
    bool any_arguments = false;
    bool open = true;
  };

  // The first chunk: fixes id/created/model for every later chunk and sends the role.
  void start(std::string_view id, std::string_view model, std::string& out) {
    if (started_) return;
    started_ = true;
    head_ = R"({"id":)";
    if (id.empty()) {
      std::string generated;
      append_random_id(generated, "chatcmpl-");
      append_json_string(head_, generated);
    } else {
      append_json_string(head_, id);
    }
    head_ += R"(,"object":"chat.completion.chunk","created":)";
    head_ += std::to_string(static_cast<long long>(std::time(nullptr)));
    head_ += R"(,"model":)";
    append_json_string(head_, model_.empty() ? model : std::string_view(model_));
    head_ += ',';
    begin(out);
    out += R"("role":"assistant","content":"")";
    end(out);
  }

  void begin(std::string& out) const {
    out += "data: ";
    out += head_;
    out += R"("choices":[{"index":0,"delta":{)";
  }

  static void end(std::string& out) { out += "},\"finish_reason\":null}]}\n\n"; }

  tool* find(std::uint32_t block) {
    for (tool& t : tools_) {
      if (t.block == block) return &t;
    }
    return nullptr;
  }

  void block_start(const stream_event& e, std::string& out) {
    if (e.block != block_type::tool_use || find(e.index)) return;
    const auto position = static_cast<std::uint32_t>(tools_.size());
    tools_.push_back({e.index, position});
    begin(out);
    out += R"("tool_calls":[{"index":)";
    out += std::to_string(position);
    out += R"(,"id":)";
    if (e.id.empty()) {
      std::string generated;
      append_random_id(generated, "call_");
      append_json_string(out, generated);
    } else {
      append_json_string(out, e.id);
    }
    out += R"(,"type":"function","function":{"name":)";
    append_json_string(out, e.name);
    out += R"(,"arguments":""}}])";
    end(out);
  }

  void arguments(const tool& t, std::string_view piece, std::string& out) const {
    begin(out);
    out += R"("tool_calls":[{"index":)";
    out += std::to_string(t.position);
    out += R"(,"function":{"arguments":)";
    append_json_string(out, piece);
    out += "}}]";
    end(out);
  }

  void block_delta(const stream_event& e, std::string& out) {
    if (e.text.empty()) return;
    switch (e.delta) {
      case delta_type::text:
        begin(out);
        out += R"("content":)";
        append_json_string(out, e.text);
        end(out);
        break;
      case delta_type::thinking:
        begin(out);
        out += R"("reasoning_content":)";
        append_json_string(out, e.text);
        end(out);
        break;
      case delta_type::partial_json:
        if (tool* t = find(e.index); t && t->open) {
          t->any_arguments = true;
          arguments(*t, e.text, out);
        }
        break;
      case delta_type::signature:
        break;
    }
  }

  // A call that streamed no argument bytes gets "{}" (Anthropic's input:{}), so that clients
  // that JSON.parse the arguments work.
  void block_stop(std::uint32_t block, std::string& out) {
    tool* t = find(block);
    if (!t || !t->open) return;
    t->open = false;
    if (!t->any_arguments) arguments(*t, "{}", out);
  }

  void finish_chunks(std::string& out) {
    if (finish_sent_) return;
    finish_sent_ = true;
    for (tool& t : tools_) block_stop(t.block, out);
    if (!tools_.empty() && stop_ == stop_reason::end_turn) stop_ = stop_reason::tool_use;
    begin(out);
    out += R"(},"finish_reason":")";
    out += stop_reason_to(wire_protocol::openai, stop_);
    out += "\"}]}\n\n";
    if (include_usage_) {
      out += "data: ";
      out += head_;
      out += R"("choices":[],"usage":)";
      append_usage_json(out, wire_protocol::openai, tokens_);
      out += "}\n\n";
    }
  }

  std::string model_;
  bool include_usage_;
  std::string head_;  ///< {"id":..,"object":..,"created":..,"model":.., (reused by every chunk)
  std::vector<tool> tools_;
  stop_reason stop_ = stop_reason::end_turn;
  usage tokens_;
  bool started_ = false;
  bool finish_sent_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<stream_encoder> make_openai_encoder(const stream_options& opts) {
  return std::make_unique<openai_encoder>(opts);
}

}  // namespace aiclient::protocol::stream_detail
