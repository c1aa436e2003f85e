// Canonical stream events -> Gemini streamGenerateContent output: SSE of
// GenerateContentResponse chunks (alt=sse), or one JSON array written incrementally
// ("[" chunk ",\r\n" chunk ... "]", what Google sends without alt=sse).
//
// One chunk per text / thinking piece ({"text"} / {"text","thought":true}); a signature is a
// thought part with an empty text and the thoughtSignature. Gemini wants whole function call
// arguments: a tool_use block's argument JSON is accumulated and sent as one functionCall part
// (with the call id) when the block stops. The last chunk carries finishReason and
// usageMetadata. Redacted thinking has no Gemini equivalent: dropped.
#include <simdjson.h>

#include <vector>

#include "aiclient/protocol/convert.hpp"
#include "aiclient/protocol/errors.hpp"
#include "stream_internal.hpp"

namespace aiclient::protocol::stream_detail {

namespace {

// Appends `args` (accumulated argument JSON) as a JSON object without whitespace (numbers and
// strings copied as they are); an empty or invalid text, or one that is not an object, becomes
// {} (Gemini's args must be an object).
void append_args_object(std::string& out, std::string& args) {
  if (trim(args).empty()) {
    out += "{}";
    return;
  }
  thread_local simdjson::dom::parser parser;
  const std::size_t len = args.size();
  args.append(simdjson::SIMDJSON_PADDING, '\0');
  simdjson::dom::element root;
  if (parser.parse(args.data(), len, false).get(root) || !root.is_object()) {
    out += "{}";
  } else {
    const std::size_t at = out.size();
    out.resize(at + len + simdjson::SIMDJSON_PADDING);  // SIMD kernels may write whole blocks
    std::size_t written = 0;
    if (simdjson::minify(args.data(), len, out.data() + at, written)) {
      out.resize(at);
      out += "{}";
    } else {
      out.resize(at + written);
    }
  }
  args.resize(len);
  if (parser.capacity() > (std::size_t{1} << 20)) parser = simdjson::dom::parser{};
}

class gemini_encoder final : public stream_encoder {
 public:
  explicit gemini_encoder(const stream_options& opts) : model_(opts.model), sse_(opts.gemini_sse) {}

  void encode(const stream_event& e, std::string& out) override {
    if (done_) return;
    switch (e.type) {
      case stream_event_type::message_start:
        start(e.id, e.name);
        break;
      case stream_event_type::block_start:
        start({}, {});
        if (e.block == block_type::tool_use && !find(e.index) && !final_sent_) {
          tools_.push_back({e.index, std::string(e.id), std::string(e.name), {}, true});
        }
        break;
      case stream_event_type::block_delta:
        start({}, {});
        block_delta(e, out);
        break;
      case stream_event_type::block_stop:
        if (tool* t = find(e.index); t && t->open) function_call(*t, out);
        break;
      case stream_event_type::message_delta:
        start({}, {});
        final_chunk(e.stop.value_or(stop_reason::end_turn), e.tokens, out);
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
    start({}, {});
    if (!final_sent_) {
      final_chunk(tools_.empty() ? stop_reason::end_turn : stop_reason::tool_use, tokens_, out);
    }
    if (!sse_) out += "]";
    done_ = true;
  }

  void fail(int status, std::string_view message, std::string& out) override {
    if (done_) return;
    begin_chunk(out);
    out += error_body(wire_protocol::gemini, status, message);
    if (sse_) {
      out += "\n\n";
    } else {
      out += "]";
    }
    done_ = true;
  }

  bool done() const noexcept override { return done_; }

 private:
  struct tool {
    std::uint32_t index;
    std::string id, name, args;
    bool open;
  };

  void start(std::string_view id, std::string_view model) {
    if (started_) return;
    started_ = true;
    tail_ = R"(,"modelVersion":)";
    append_json_string(tail_, model_.empty() ? model : std::string_view(model_));
    tail_ += R"(,"responseId":)";
    if (id.empty()) {
      std::string generated;
      append_random_id(generated, "", 22);
      append_json_string(tail_, generated);
    } else {
      append_json_string(tail_, id);
    }
    tail_ += '}';
  }

  tool* find(std::uint32_t index) {
    for (tool& t : tools_) {
      if (t.index == index) return &t;
    }
    return nullptr;
  }

  void begin_chunk(std::string& out) {
    if (sse_) {
      out += "data: ";
    } else {
      out += first_ ? "[" : ",\r\n";
    }
    first_ = false;
  }

  void end_chunk(std::string& out) const {
    out += tail_;
    if (sse_) out += "\n\n";
  }

  void begin_part(std::string& out) {
    begin_chunk(out);
    out += R"({"candidates":[{"content":{"parts":[)";
  }

  void end_part(std::string& out) const {
    out += R"(],"role":"model"},"index":0}])";
    end_chunk(out);
  }

  void block_delta(const stream_event& e, std::string& out) {
    if (final_sent_ || e.text.empty()) return;
    switch (e.delta) {
      case delta_type::text:
        begin_part(out);
        out += R"({"text":)";
        append_json_string(out, e.text);
        out += '}';
        end_part(out);
        break;
      case delta_type::thinking:
        begin_part(out);
        out += R"({"text":)";
        append_json_string(out, e.text);
        out += R"(,"thought":true})";
        end_part(out);
        break;
      case delta_type::signature:
        begin_part(out);
        out += R"({"text":"","thought":true,"thoughtSignature":)";
        append_json_string(out, e.text);
        out += '}';
        end_part(out);
        break;
      case delta_type::partial_json:
        if (tool* t = find(e.index); t && t->open) t->args += e.text;
        break;
    }
  }

  void function_call(tool& t, std::string& out) {
    t.open = false;
    begin_part(out);
    out += R"({"functionCall":{)";
    if (!t.id.empty()) {
      out += R"("id":)";
      append_json_string(out, t.id);
      out += ',';
    }
    out += R"("name":)";
    append_json_string(out, t.name);
    out += R"(,"args":)";
    append_args_object(out, t.args);
    out += "}}";
    end_part(out);
    t.args.clear();
    t.args.shrink_to_fit();
  }

  void final_chunk(stop_reason stop, const usage& tokens, std::string& out) {
    if (final_sent_) return;
    for (tool& t : tools_) {
      if (t.open) function_call(t, out);
    }
    final_sent_ = true;
    if (tokens.has_input || tokens.has_output) tokens_ = tokens;
    begin_chunk(out);
    out += R"({"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":")";
    out += stop_reason_to(wire_protocol::gemini, stop);
    out += R"(","index":0}],"usageMetadata":)";
    append_usage_json(out, wire_protocol::gemini, tokens_);
    end_chunk(out);
  }

  std::string model_;
  bool sse_;
  std::string tail_;  ///< ,"modelVersion":..,"responseId":..} (reused by every chunk)
  std::vector<tool> tools_;
  usage tokens_;
  bool started_ = false;
  bool first_ = true;
  bool final_sent_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<stream_encoder> make_gemini_encoder(const stream_options& opts) {
  return std::make_unique<gemini_encoder>(opts);
}

}  // namespace aiclient::protocol::stream_detail
