// OpenAI chat completion chunks (SSE) -> canonical stream events.
//
// Blocks: reasoning_content (or `reasoning`) opens a thinking block, content (or refusal) a text
// block; switching between the two closes the current one. Each tool_calls index opens a
// tool_use block that stays open until finish_reason, because OpenAI may interleave the
// argument deltas of parallel calls. message_delta and message_stop wait for [DONE] (the usage
// chunk of stream_options.include_usage comes after the finish_reason chunk) or finish().
#include <algorithm>
#include <vector>

#include "stream_internal.hpp"

namespace aiclient::protocol::stream_detail {

namespace {

struct tool_delta {
  std::int64_t index = -1;  ///< -1: absent
  std::string_view id;
  std::string_view name;
  std::string_view arguments;
};

// The fields of one chunk that matter, read in any key order.
struct chunk {
  std::string_view id;
  std::string_view model;
  bool has_choice = false;
  std::string_view content;
  std::string_view reasoning;
  std::string_view refusal;
  std::string_view finish_reason;
  std::vector<tool_delta> tools;  ///< reused across chunks
  bool has_usage = false;
  usage tokens;
  bool has_error = false;
  std::string_view error_message;
  std::string_view error_type;
  std::string_view error_code;
  std::int64_t error_status = 0;

  void clear() {
    id = model = content = reasoning = refusal = finish_reason = {};
    has_choice = has_usage = has_error = false;
    tools.clear();
    tokens = usage{};
    error_message = error_type = error_code = {};
    error_status = 0;
  }
};

class openai_decoder final : public sse_decoder {
 public:
  using sse_decoder::sse_decoder;

 protected:
  void handle(const sse_event& event) override {
    const std::string_view data = trim(event.data);
    if (data.empty()) return;
    if (data == "[DONE]") {
      complete_ = true;
      end();
      return;
    }
    chunk_.clear();
    if (const error_code e = read_chunk(data)) {
      fail_malformed(e);
      return;
    }
    apply();
  }

  void close_stream() override { end(); }

 private:
  struct tool_state {
    std::int64_t openai_index;
    std::uint32_t block;
  };

  error_code read_chunk(std::string_view data) {
    od::document doc;
    if (const error_code e = parse_event(data, doc)) return e;
    od::object root;
    if (const error_code e = doc.get_object().get(root)) return e;
    return each_field(root, [&](std::string_view key, od::value v) {
      error_code e = simdjson::SUCCESS;
      if (key == "id") {
        e = read_string(v, chunk_.id);
      } else if (key == "model") {
        e = read_string(v, chunk_.model);
      } else if (key == "choices") {
        e = read_choices(v);
      } else if (key == "usage") {
        e = read_usage(v);
      } else if (key == "error") {
        e = read_error(v);
      }
      return e;
    });
  }

  error_code read_choices(od::value v) {
    return each_element(v, [&](od::value choice) { return read_choice(choice); });
  }

  // One choice; only choice 0 is converted (n > 1 has no equivalent in the other protocols).
  error_code read_choice(od::value v) {
    od::json_type t;
    if (const error_code e = v.type().get(t)) return e;
    if (t != od::json_type::object) return simdjson::SUCCESS;
    od::object obj;
    if (const error_code e = v.get_object().get(obj)) return e;
    std::int64_t index = 0;
    std::string_view content, reasoning, refusal, finish;
    const std::size_t tools_before = chunk_.tools.size();
    if (const error_code loop_e = each_field(obj, [&](std::string_view key, od::value fv) {
          error_code e = simdjson::SUCCESS;
          if (key == "index") {
            e = read_int(fv, index);
          } else if (key == "finish_reason") {
            e = read_string(fv, finish);
          } else if (key == "delta" || key == "message") {
            e = read_delta(fv, content, reasoning, refusal);
          }
          return e;
        }))
      return loop_e;
    if (index != 0) {
      chunk_.tools.resize(tools_before);
      return simdjson::SUCCESS;
    }
    chunk_.has_choice = true;
    chunk_.content = content;
    chunk_.reasoning = reasoning;
    chunk_.refusal = refusal;
    chunk_.finish_reason = finish;
    return simdjson::SUCCESS;
  }

  error_code read_delta(od::value v, std::string_view& content, std::string_view& reasoning,
                        std::string_view& refusal) {
    return each_field(v, [&](std::string_view key, od::value fv) {
      error_code e = simdjson::SUCCESS;
      if (key == "content") {
        e = read_string(fv, content);
      } else if (key == "reasoning_content" || key == "reasoning") {
        std::string_view r;
        e = read_string(fv, r);
        if (!r.empty()) reasoning = r;
      } else if (key == "refusal") {
        e = read_string(fv, refusal);
      } else if (key == "tool_calls") {
        e = read_tool_calls(fv);
      }
      return e;
    });
  }

  error_code read_tool_calls(od::value v) {
    return each_element(v, [&](od::value call) {
      od::json_type ct;
      if (const error_code e = call.type().get(ct)) return e;
      if (ct != od::json_type::object) return simdjson::SUCCESS;
      tool_delta d;
      if (const error_code e = each_field(call, [&](std::string_view key, od::value fv) {
            error_code fe = simdjson::SUCCESS;
            if (key == "index") {
              bool has = false;
              std::int64_t idx = 0;
              fe = read_int(fv, idx, &has);
              if (has && idx >= 0) d.index = idx;
            } else if (key == "id") {
              fe = read_string(fv, d.id);
            } else if (key == "function") {
              fe = read_function(fv, d);
            }
            return fe;
          })) {
        return e;
      }
      chunk_.tools.push_back(d);
      return simdjson::SUCCESS;
    });
  }

  static error_code read_function(od::value v, tool_delta& d) {
    return each_field(v, [&](std::string_view key, od::value fv) {
      error_code e = simdjson::SUCCESS;
      if (key == "name") {
        e = read_string(fv, d.name);
      } else if (key == "arguments") {
        od::json_type at;
        if ((e = fv.type().get(at))) return e;
        if (at == od::json_type::string) {
          e = fv.get_string().get(d.arguments);
        } else if (at == od::json_type::object) {
          e = read_raw_object(fv, d.arguments);  // lenient: arguments sent as an object
        }
      }
      return e;
    });
  }

  error_code read_usage(od::value v) {
    od::json_type t;
    if (const error_code e = v.type().get(t)) return e;
    if (t != od::json_type::object) return simdjson::SUCCESS;
    od::object obj;
    if (const error_code e = v.get_object().get(obj)) return e;
    usage& u = chunk_.tokens;
    if (const error_code loop_e = each_field(obj, [&](std::string_view key, od::value fv) {
          error_code e = simdjson::SUCCESS;
          if (key == "prompt_tokens") {
            e = read_int(fv, u.input_tokens, &u.has_input);
          } else if (key == "completion_tokens") {
            e = read_int(fv, u.output_tokens, &u.has_output);
          } else if (key == "prompt_tokens_details") {
            e = read_detail(fv, "cached_tokens", u.cache_read_tokens);
          } else if (key == "completion_tokens_details") {
            e = read_detail(fv, "reasoning_tokens", u.reasoning_tokens);
          }
          return e;
        }))
      return loop_e;
    chunk_.has_usage = u.has_input || u.has_output;
    return simdjson::SUCCESS;
  }

  static error_code read_detail(od::value v, std::string_view wanted, std::int64_t& out) {
    return each_field(v, [&](std::string_view key, od::value fv) {
      return key == wanted ? read_int(fv, out) : simdjson::SUCCESS;
    });
  }

  error_code read_error(od::value v) {
    od::json_type t;
    if (const error_code e = v.type().get(t)) return e;
    if (t == od::json_type::null) return simdjson::SUCCESS;
    chunk_.has_error = true;
    if (t == od::json_type::string) return v.get_string().get(chunk_.error_message);
    if (t != od::json_type::object) return simdjson::SUCCESS;
    od::object obj;
    if (const error_code e = v.get_object().get(obj)) return e;
    return each_field(obj, [&](std::string_view key, od::value fv) {
      error_code e = simdjson::SUCCESS;
      if (key == "message") {
        e = read_string(fv, chunk_.error_message);
      } else if (key == "type") {
        e = read_string(fv, chunk_.error_type);
      } else if (key == "code") {  // a string ("rate_limit_exceeded") or a number (429)
        od::json_type ct;
        if ((e = fv.type().get(ct))) return e;
        if (ct == od::json_type::string) {
          e = fv.get_string().get(chunk_.error_code);
        } else if (ct == od::json_type::number) {
          e = read_int(fv, chunk_.error_status);
        }
      } else if (key == "status") {
        e = read_int(fv, chunk_.error_status);
      }
      return e;
    });
  }

  void apply() {
    if (chunk_.has_error) {
      int status = 0;
      if (chunk_.error_status >= 400 && chunk_.error_status <= 599) {
        status = static_cast<int>(chunk_.error_status);
      }
      if (!status) status = status_from_error_type(chunk_.error_code);
      if (!status) status = status_from_error_type(chunk_.error_type);
      if (!status) status = 500;
      const std::string_view type =
          chunk_.error_type.empty() ? chunk_.error_code : chunk_.error_type;
      emit_error(
          status, type,
          chunk_.error_message.empty() ? std::string_view("upstream error") : chunk_.error_message);
      return;
    }
    if (!chunk_.id.empty() && id_.empty()) id_.assign(chunk_.id);
    if (!chunk_.model.empty() && model_.empty()) model_.assign(chunk_.model);
    if (!started()) start_message(id_, model_, usage{});

    if (chunk_.has_choice) {
      if (!chunk_.reasoning.empty()) piece(block_type::thinking, chunk_.reasoning);
      if (!chunk_.content.empty()) piece(block_type::text, chunk_.content);
      if (!chunk_.refusal.empty()) piece(block_type::text, chunk_.refusal);
      for (const tool_delta& d : chunk_.tools) tool(d);
      if (!chunk_.finish_reason.empty()) {
        stop_ = stop_reason_from(wire_protocol::openai, chunk_.finish_reason);
        complete_ = true;
        stop_all_blocks();
        text_open_ = false;
      }
    }
    if (chunk_.has_usage) {
      tokens_ = chunk_.tokens;
      tokens_.output_tokens = std::max(tokens_.output_tokens, tokens_.reasoning_tokens);
    }
  }

  // Text or reasoning: continue the open block of that kind, else switch blocks.
  void piece(block_type type, std::string_view text) {
    if (!text_open_ || text_type_ != type || !is_open(text_index_)) {
      if (text_open_) stop_block(text_index_);
      text_index_ = next_index_++;
      text_type_ = type;
      text_open_ = true;
      start_block(text_index_, type);
    }
    block_delta(text_index_, type == block_type::thinking ? delta_type::thinking : delta_type::text,
                text);
  }

  void tool(const tool_delta& d) {
    tool_state* state = nullptr;
    std::int64_t key = d.index;
    if (key < 0) {
      // No index (some OpenAI-compatible servers): an id starts a new call, else the last one.
      if (!d.id.empty() || tools_.empty()) {
        key = tools_.empty() ? 0 : tools_.back().openai_index + 1;
      } else {
        key = tools_.back().openai_index;
      }
    }
    for (tool_state& s : tools_) {
      if (s.openai_index == key) state = &s;
    }
    if (!state) {
      if (text_open_) {
        stop_block(text_index_);
        text_open_ = false;
      }
      tools_.push_back({key, next_index_++});
      state = &tools_.back();
      if (d.id.empty()) {
        scratch_id_.clear();
        append_random_id(scratch_id_, "call_");
      }
      start_block(state->block, block_type::tool_use, d.id.empty() ? scratch_id_ : d.id, d.name);
    }
    if (!d.arguments.empty() && is_open(state->block)) {
      block_delta(state->block, delta_type::partial_json, d.arguments);
    }
  }

  void end() {
    std::optional<stop_reason> stop = stop_;
    if (!tools_.empty() && (!stop || *stop == stop_reason::end_turn)) stop = stop_reason::tool_use;
    if (!stop) stop = stop_reason::end_turn;
    if (!started()) start_message(id_, model_, usage{});
    end_message(stop, {}, tokens_);
  }

  chunk chunk_;
  std::string id_;
  std::string model_;
  std::string scratch_id_;
  std::vector<tool_state> tools_;
  std::uint32_t next_index_ = 0;
  std::uint32_t text_index_ = 0;
  block_type text_type_ = block_type::text;
  bool text_open_ = false;
  std::optional<stop_reason> stop_;
  usage tokens_;
};

}  // namespace

std::unique_ptr<stream_decoder> make_openai_decoder(std::size_t max_event_bytes) {
  return std::make_unique<openai_decoder>(max_event_bytes);
}

}  // namespace aiclient::protocol::stream_detail
