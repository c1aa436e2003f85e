// Conversion through the canonical model: dispatch to the per-protocol codecs.
#include "aiclient/protocol/convert.hpp"

#include <cstring>
#include <exception>

#include "aiclient/protocol/canonical.hpp"
#include "codec_util.hpp"

namespace aiclient::protocol {

namespace {

// decode_request without resetting `out` (its memory may hold the parse of the body already).
std::string decode_request_into(wire_protocol p, std::string_view body, canonical_request& out,
                                std::size_t allocated) {
  switch (p) {
    case wire_protocol::openai:
      return openai_codec::decode_request(body, out, allocated);
    case wire_protocol::claude:
      return claude_codec::decode_request(body, out, allocated);
    case wire_protocol::gemini:
      return gemini_codec::decode_request(body, out, allocated);
  }
  return "unknown protocol";
}

}  // namespace

std::string decode_request(wire_protocol p, std::string_view body, canonical_request& out) {
  out = canonical_request{};
  return decode_request_into(p, body, out, 0);
}

std::string encode_request(wire_protocol p, const canonical_request& in, std::string& out) {
  switch (p) {
    case wire_protocol::openai:
      return openai_codec::encode_request(in, out);
    case wire_protocol::claude:
      return claude_codec::encode_request(in, out);
    case wire_protocol::gemini:
      return gemini_codec::encode_request(in, out);
  }
  return "unknown protocol";
}

std::string decode_response(wire_protocol p, std::string_view body, canonical_response& out) {
  out = canonical_response{};
  switch (p) {
    case wire_protocol::openai:
      return openai_codec::decode_response(body, out);
    case wire_protocol::claude:
      return claude_codec::decode_response(body, out);
    case wire_protocol::gemini:
      return gemini_codec::decode_response(body, out);
  }
  return "unknown protocol";
}

std::string encode_response(wire_protocol p, const canonical_response& in, std::string& out) {
  switch (p) {
    case wire_protocol::openai:
      return openai_codec::encode_response(in, out);
    case wire_protocol::claude:
      return claude_codec::encode_response(in, out);
    case wire_protocol::gemini:
      return gemini_codec::encode_response(in, out);
  }
  return "unknown protocol";
}

std::string decode_models(wire_protocol p, std::string_view body, canonical_model_list& out) {
  out = canonical_model_list{};
  switch (p) {
    case wire_protocol::openai:
      return openai_codec::decode_models(body, out);
    case wire_protocol::claude:
      return claude_codec::decode_models(body, out);
    case wire_protocol::gemini:
      return gemini_codec::decode_models(body, out);
  }
  return "unknown protocol";
}

void encode_models(wire_protocol p, const canonical_model_list& in, std::string& out) {
  switch (p) {
    case wire_protocol::openai:
      openai_codec::encode_models(in, out);
      return;
    case wire_protocol::claude:
      claude_codec::encode_models(in, out);
      return;
    case wire_protocol::gemini:
      gemini_codec::encode_models(in, out);
      return;
  }
}

std::string clean_schema_for_gemini(std::string_view schema_json) {
  std::string out;
  if (!codec::valid_json(schema_json)) return "{}";
  gemini_codec::write_clean_schema(schema_json, out);
  return out;
}

namespace {

convert_result failure(std::string error) {
  convert_result r;
  r.error = std::move(error);
  return r;
}

}  // namespace

// Untrusted bodies never throw past these functions: codecs report errors as values; the
// try blocks only catch resource exhaustion (std::bad_alloc, std::length_error).
convert_result convert_request(wire_protocol from, wire_protocol to, std::string_view body,
                               const request_options& opts) {
  return convert_request(from, to, body, 0, opts, nullptr);
}

convert_result convert_request(wire_protocol from, wire_protocol to, std::string_view body,
                               std::size_t allocated, const request_options& opts,
                               parsed_body* parsed) {
  try {
    canonical_request q;
    if (parsed && parsed->ready()) {
      parsed_body::impl& p = parsed->state();
      // The same bytes: at the address inspect_body parsed (the caller vouches that they did not
      // change), or equal to the copy inspect_body parsed.
      const bool same = p.size == body.size() &&
                        (p.body == body.data() ||
                         (p.base != p.body && std::memcmp(p.base, body.data(), body.size()) == 0));
      if (same) {
        decode_memory::impl& st = q.memory.state();
        st.scratch = std::move(p.scratch);
        st.base = p.base;
        st.size = p.size;
        st.parsed = true;
      }
      parsed->release();
    }
    if (std::string e = decode_request_into(from, body, q, allocated); !e.empty())
      return failure(std::move(e));
    if (!opts.model.empty()) q.model = plain_text(opts.model);
    q.stream = q.stream || opts.stream;
    convert_result r;
    r.body.reserve(body.size() + body.size() / 8 + 256);
    std::string e = encode_request(to, q, r.body);
    codec::recycle_parts(q);
    if (!e.empty()) return failure(std::move(e));
    return r;
  } catch (const std::exception& e) {
    return failure(std::string("request conversion failed: ") + e.what());
  }
}

convert_result convert_response(wire_protocol from, wire_protocol to, std::string_view body,
                                std::string_view model) {
  try {
    canonical_response s;
    if (std::string e = decode_response(from, body, s); !e.empty()) return failure(std::move(e));
    if (!model.empty()) s.model = plain_text(model);
    convert_result r;
    r.body.reserve(body.size() + 256);
    if (std::string e = encode_response(to, s, r.body); !e.empty()) return failure(std::move(e));
    return r;
  } catch (const std::exception& e) {
    return failure(std::string("response conversion failed: ") + e.what());
  }
}

convert_result convert_models(wire_protocol from, wire_protocol to, std::string_view body) {
  try {
    canonical_model_list m;
    if (std::string e = decode_models(from, body, m); !e.empty()) return failure(std::move(e));
    convert_result r;
    encode_models(to, m, r.body);
    return r;
  } catch (const std::exception& e) {
    return failure(std::string("model list conversion failed: ") + e.what());
  }
}

}  // namespace aiclient::protocol
