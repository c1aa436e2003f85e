// Gemini GenerateContentResponse chunks (SSE, alt=sse) -> canonical stream events.
//
// Also reads Google Code Assist's wrapper ({"response": {...}}). Text parts go to a text block,
// thought parts to a thinking block (switching kinds closes the current block); a
// thoughtSignature becomes a signature delta of the thinking block (one is opened, empty, when
// the signature rides on a text or functionCall part). Each functionCall part is a whole
// tool_use block (start, the args JSON as one partial_json piece, stop) with the call's id or a
// synthesized "call_..." id. finishReason STOP after function calls means tool_use.
// usageMetadata is cumulative: the last one wins. message_delta goes out with the finishReason
// chunk when it carries usageMetadata (the usual case), else with the next usage or the end.
#include <vector>

#include "stream_internal.hpp"

namespace aiclient::protocol::stream_detail {

namespace {

struct part {
  bool is_call = false;
  bool thought = false;
  bool has_text = false;
  std::string_view text;
  std::string_view signature;
  std::string_view name;
  std::string_view id;
  std::string_view args;  ///< raw JSON object
};

struct chunk {
  std::string_view response_id;
  std::string_view model_version;
  std::vector<part> parts;  ///< of the first candidate; reused across chunks
  std::string_view finish_reason;
  std::string_view block_reason;
  bool has_usage = false;
  usage tokens;
  bool has_error = false;
  std::int64_t error_code = 0;
  std::string_view error_status;
  std::string_view error_message;

  void clear() {
    response_id = model_version = finish_reason = block_reason = {};
    parts.clear();
    has_usage = has_error = false;
    tokens = usage{};
    error_code = 0;
    error_status = error_message = {};
  }
};

class gemini_decoder final : public sse_decoder {
 public:
  using sse_decoder::sse_decoder;

 protected:
  void handle(const sse_event& event) override {
    const std::string_view data = trim(event.data);
    if (data.empty() || data == "[DONE]") return;
    chunk_.clear();
    od::document doc;
    error_code e = parse_event(data, doc);
    od::object root;
    if (!e) e = doc.get_object().get(root);
    if (!e) e = read_response(root, true);
    if (e) {
      fail_malformed(e);
      return;
    }
    apply();
  }

  void close_stream() override { end_message(stop_or_default(), {}, tokens_); }

 private:
  error_code read_response(od::object& obj, bool top) {
    return each_field(obj, [&](std::string_view key, od::value v) {
      error_code e = simdjson::SUCCESS;
      if (key == "candidates") {
        e = read_candidates(v);
      } else if (key == "usageMetadata") {
        e = read_usage(v);
      } else if (key == "modelVersion") {
        e = read_string(v, chunk_.model_version);
      } else if (key == "responseId") {
        e = read_string(v, chunk_.response_id);
      } else if (key == "promptFeedback") {
        e = each_field(v, [&](std::string_view k, od::value fv) {
          return k == "blockReason" ? read_string(fv, chunk_.block_reason) : simdjson::SUCCESS;
        });
      } else if (key == "error") {
        e = read_error(v);
      } else if (key == "response" && top) {  // Code Assist: {"response": {...}, "traceId"}
        od::json_type t;
        if ((e = v.type().get(t))) return e;
        if (t == od::json_type::object) {
          od::object inner;
          if ((e = v.get_object().get(inner))) return e;
          e = read_response(inner, false);
        }
      }
      return e;
    });
  }

  error_code read_candidates(od::value v) {
    bool first = true;
    return each_element(v, [&](od::value candidate) {
      if (!first) return simdjson::SUCCESS;  // candidateCount > 1 has no equivalent elsewhere
      first = false;
      return each_field(candidate, [&](std::string_view k, od::value fv) {
        if (k == "finishReason") return read_string(fv, chunk_.finish_reason);
        if (k == "content") {
          return each_field(fv, [&](std::string_view ck, od::value cv) {
            return ck == "parts" ? read_parts(cv) : simdjson::SUCCESS;
          });
        }
        return simdjson::SUCCESS;
      });
    });
  }

  error_code read_parts(od::value v) {
    return each_element(v, [&](od::value pv) {
      part p;
      if (const error_code e = each_field(pv, [&](std::string_view k, od::value fv) {
            if (k == "text") {
              od::json_type tt;
              if (const error_code e2 = fv.type().get(tt)) return e2;
              if (tt != od::json_type::string) return simdjson::SUCCESS;
              p.has_text = true;
              return fv.get_string().get(p.text);
            }
            if (k == "thought") return read_bool(fv, p.thought);
            if (k == "thoughtSignature" || k == "thought_signature") {
              return read_string(fv, p.signature);
            }
            if (k == "functionCall" || k == "function_call") {
              p.is_call = true;
              return each_field(fv, [&](std::string_view fk, od::value fcv) {
                if (fk == "name") return read_string(fcv, p.name);
                if (fk == "id") return read_string(fcv, p.id);
                if (fk == "args") return read_raw_object(fcv, p.args);
                return simdjson::SUCCESS;
              });
            }
            return simdjson::SUCCESS;
          })) {
        return e;
      }
      chunk_.parts.push_back(p);
      return simdjson::SUCCESS;
    });
  }

  error_code read_usage(od::value v) {
    usage& u = chunk_.tokens;
    std::int64_t candidates = 0, thoughts = 0, tool_prompt = 0;
    bool has_candidates = false, has_thoughts = false;
    if (const error_code e = each_field(v, [&](std::string_view k, od::value fv) {
          if (k == "promptTokenCount") return read_int(fv, u.input_tokens, &u.has_input);
          if (k == "candidatesTokenCount") return read_int(fv, candidates, &has_candidates);
          if (k == "thoughtsTokenCount") return read_int(fv, thoughts, &has_thoughts);
          if (k == "cachedContentTokenCount") return read_int(fv, u.cache_read_tokens);
          if (k == "toolUsePromptTokenCount") return read_int(fv, tool_prompt);
          return simdjson::SUCCESS;
        })) {
      return e;
    }
    u.input_tokens += tool_prompt;
    u.output_tokens = candidates + thoughts;
    u.reasoning_tokens = thoughts;
    u.has_output = has_candidates || has_thoughts;
    chunk_.has_usage = true;
    return simdjson::SUCCESS;
  }

  error_code read_error(od::value v) {
    od::json_type t;
    if (const error_code e = v.type().get(t)) return e;
    if (t == od::json_type::null) return simdjson::SUCCESS;
    chunk_.has_error = true;
    return each_field(v, [&](std::string_view k, od::value fv) {
      if (k == "code") return read_int(fv, chunk_.error_code);
      if (k == "status") return read_string(fv, chunk_.error_status);
      if (k == "message") return read_string(fv, chunk_.error_message);
      return simdjson::SUCCESS;
    });
  }

  void apply() {
    if (chunk_.has_error) {
      int status = 0;
      if (chunk_.error_code >= 400 && chunk_.error_code <= 599) {
        status = static_cast<int>(chunk_.error_code);
      }
      if (!status) status = status_from_error_type(chunk_.error_status);
      if (!status) status = 500;
      emit_error(
          status, chunk_.error_status,
          chunk_.error_message.empty() ? std::string_view("upstream error") : chunk_.error_message);
      return;
    }
    if (chunk_.has_usage) tokens_ = chunk_.tokens;
    if (!started()) {
      usage start = chunk_.has_usage ? chunk_.tokens : usage{};
      start.has_output = false;
      start.output_tokens = start.reasoning_tokens = 0;
      start_message(chunk_.response_id, chunk_.model_version, start);
    }
    if (delta_sent()) return;
    for (const part& p : chunk_.parts) apply_part(p);
    if (!chunk_.block_reason.empty() && !stop_) {
      stop_ = stop_reason::content_filter;
      finish_seen_ = true;
    }
    if (!chunk_.finish_reason.empty()) {
      stop_ = stop_reason_from(wire_protocol::gemini, chunk_.finish_reason);
      finish_seen_ = true;
    }
    if (finish_seen_) {
      complete_ = true;
      stop_all_blocks();
      text_open_ = false;
      if (tokens_.has_input || tokens_.has_output) message_delta(stop_or_default(), {}, tokens_);
    }
  }

  void apply_part(const part& p) {
    if (p.is_call) {
      if (!p.signature.empty()) signature(p.signature);
      close_text();
      saw_call_ = true;
      const std::uint32_t index = next_index_++;
      std::string_view id = p.id;
      if (id.empty()) {
        scratch_id_.clear();
        append_random_id(scratch_id_, "call_");
        id = scratch_id_;
      }
      start_block(index, block_type::tool_use, id, p.name);
      block_delta(index, delta_type::partial_json,
                  p.args.empty() ? std::string_view("{}") : p.args);
      stop_block(index);
      return;
    }
    if (p.thought) {
      if (!p.text.empty()) text_piece(block_type::thinking, p.text);
      if (!p.signature.empty()) signature(p.signature);
      return;
    }
    if (!p.signature.empty()) signature(p.signature);
    if (!p.text.empty()) text_piece(block_type::text, p.text);
  }

  void text_piece(block_type type, std::string_view text) {
    if (!text_open_ || text_type_ != type) {
      close_text();
      text_index_ = next_index_++;
      text_type_ = type;
      text_open_ = true;
      start_block(text_index_, type);
    }
    block_delta(text_index_, type == block_type::thinking ? delta_type::thinking : delta_type::text,
                text);
  }

  // A signature closes the thinking block it signs (opening an empty one when none is open).
  void signature(std::string_view sig) {
    if (!text_open_ || text_type_ != block_type::thinking) {
      close_text();
      text_index_ = next_index_++;
      text_type_ = block_type::thinking;
      text_open_ = true;
      start_block(text_index_, block_type::thinking);
    }
    block_delta(text_index_, delta_type::signature, sig);
    close_text();
  }

  void close_text() {
    if (!text_open_) return;
    stop_block(text_index_);
    text_open_ = false;
  }

  stop_reason stop_or_default() const {
    stop_reason r = stop_ ? *stop_ : stop_reason::end_turn;
    if (saw_call_ && r == stop_reason::end_turn) r = stop_reason::tool_use;
    return r;
  }

  chunk chunk_;
  std::string scratch_id_;
  std::uint32_t next_index_ = 0;
  std::uint32_t text_index_ = 0;
  block_type text_type_ = block_type::text;
  bool text_open_ = false;
  bool saw_call_ = false;
  bool finish_seen_ = false;
  std::optional<stop_reason> stop_;
  usage tokens_;
};

}  // namespace

std::unique_ptr<stream_decoder> make_gemini_decoder(std::size_t max_event_bytes) {
  return std::make_unique<gemini_decoder>(max_event_bytes);
}

}  // namespace aiclient::protocol::stream_detail
