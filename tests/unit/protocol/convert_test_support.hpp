#pragma once
// Helpers of the conversion tests: golden cases under tests/fixtures/convert/<from>_to_<to>/.
//
// A case is <kind>_<name>.in.json (kind: request, response or models) with either
// <kind>_<name>.out.json (the expected output) or <kind>_<name>.error.txt (the conversion must
// fail with a message containing that text). <kind>_<name>.opts.json may hold {"model": ...,
// "stream": ...}: the request_options (for a response: the model to report). Requests from a
// Gemini client get the model "gemini-2.5-pro" from the URL unless opts say otherwise.
// In expected outputs, a string ending with "*" matches any string starting with what precedes
// the "*" (a lone "*" also matches any number): for generated ids and timestamps.
// AICLIENT_UPDATE_GOLDEN=1 rewrites the .out.json files (keeping their "*" patterns where they
// still match); review the diff before committing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "aiclient/protocol/convert.hpp"
#include "support/test_paths.hpp"

namespace convert_test {

using aiclient::protocol::convert_result;
using aiclient::protocol::request_options;
using aiclient::protocol::wire_protocol;
using json = nlohmann::json;

/// One golden case.
struct golden_case {
  std::string dir;   ///< e.g. "openai_to_claude"
  std::string name;  ///< e.g. "request_system" (file names without suffixes)
  wire_protocol from = wire_protocol::openai;
  wire_protocol to = wire_protocol::openai;
  std::string kind;  ///< request, response, models
};

/// gtest prints a case by its path.
inline void PrintTo(const golden_case& c, std::ostream* os) {
  *os << c.dir << "/" << c.name;
}

inline std::string fixture_root() {
  return aiclient::testing::source_dir() + "/tests/fixtures/convert";
}

inline std::optional<wire_protocol> parse_protocol(const std::string& s) {
  if (s == "openai") return wire_protocol::openai;
  if (s == "claude") return wire_protocol::claude;
  if (s == "gemini") return wire_protocol::gemini;
  return std::nullopt;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool file_exists(const std::string& path) {
  return std::filesystem::exists(path);
}

inline std::string case_path(const golden_case& c, const std::string& suffix) {
  return fixture_root() + "/" + c.dir + "/" + c.name + suffix;
}

/// Every case of every <from>_to_<to> folder, sorted.
inline std::vector<golden_case> all_cases() {
  std::vector<golden_case> cases;
  namespace fs = std::filesystem;
  if (!fs::exists(fixture_root())) return cases;
  for (const auto& dir : fs::directory_iterator(fixture_root())) {
    if (!dir.is_directory()) continue;
    const std::string d = dir.path().filename().string();
    const std::size_t sep = d.find("_to_");
    if (sep == std::string::npos) continue;
    const auto from = parse_protocol(d.substr(0, sep));
    const auto to = parse_protocol(d.substr(sep + 4));
    if (!from || !to) continue;
    for (const auto& f : fs::directory_iterator(dir.path())) {
      const std::string file = f.path().filename().string();
      constexpr std::string_view in = ".in.json";
      if (file.size() <= in.size() || file.substr(file.size() - in.size()) != in) continue;
      golden_case c;
      c.dir = d;
      c.name = file.substr(0, file.size() - in.size());
      c.from = *from;
      c.to = *to;
      c.kind = c.name.substr(0, c.name.find('_'));
      cases.push_back(c);
    }
  }
  std::sort(cases.begin(), cases.end(), [](const golden_case& a, const golden_case& b) {
    return a.dir + "/" + a.name < b.dir + "/" + b.name;
  });
  return cases;
}

/// The request options of a case.
inline request_options options_of(const golden_case& c) {
  request_options opts;
  if (c.from == wire_protocol::gemini && c.kind == "request") opts.model = "gemini-2.5-pro";
  const std::string text = read_file(case_path(c, ".opts.json"));
  if (!text.empty()) {
    const json o = json::parse(text);
    if (o.contains("model")) opts.model = o["model"].get<std::string>();
    if (o.contains("stream")) opts.stream = o["stream"].get<bool>();
  }
  return opts;
}

/// Runs the conversion of a case from `from` to `to` on `body`.
inline convert_result run_conversion(const golden_case& c, wire_protocol from, wire_protocol to,
                                     const std::string& body) {
  const request_options opts = options_of(c);
  if (c.kind == "request") return aiclient::protocol::convert_request(from, to, body, opts);
  if (c.kind == "response") return aiclient::protocol::convert_response(from, to, body, opts.model);
  return aiclient::protocol::convert_models(from, to, body);
}

/// True when `actual` matches `expected` (objects compared without key order; "*" patterns).
inline bool matches(const json& expected, const json& actual) {
  if (expected.is_string()) {
    const std::string& e = expected.get_ref<const std::string&>();
    if (!e.empty() && e.back() == '*') {
      if (e == "*" && actual.is_number()) return true;
      if (!actual.is_string()) return false;
      const std::string prefix = e.substr(0, e.size() - 1);
      return actual.get_ref<const std::string&>().rfind(prefix, 0) == 0;
    }
  }
  if (expected.is_object()) {
    if (!actual.is_object() || actual.size() != expected.size()) return false;
    for (const auto& [k, v] : expected.items()) {
      if (!actual.contains(k) || !matches(v, actual[k])) return false;
    }
    return true;
  }
  if (expected.is_array()) {
    if (!actual.is_array() || actual.size() != expected.size()) return false;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (!matches(expected[i], actual[i])) return false;
    return true;
  }
  if (expected.is_number() && actual.is_number())
    return expected.get<double>() == actual.get<double>();
  return expected == actual;
}

/// `actual` with the "*" patterns of `old` kept where they still match (for golden updates).
inline json keep_patterns(const json& old, const json& actual) {
  if (old.is_string() && matches(old, actual) && old.get_ref<const std::string&>().back() == '*')
    return old;
  if (old.is_object() && actual.is_object()) {
    json out = actual;
    for (auto& [k, v] : out.items())
      if (old.contains(k)) v = keep_patterns(old[k], v);
    return out;
  }
  if (old.is_array() && actual.is_array() && old.size() == actual.size()) {
    json out = actual;
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = keep_patterns(old[i], out[i]);
    return out;
  }
  return actual;
}

/// True when golden files should be rewritten.
inline bool updating_goldens() {
  const char* v = std::getenv("AICLIENT_UPDATE_GOLDEN");
  return v && *v && std::string(v) != "0";
}

}  // namespace convert_test

namespace convert_test {

/// A deterministic Claude Code-like request of about 115 KB: a system prompt in two cached
/// blocks, 24 tools with large schemas, and a long history of text, tool calls and tool results
/// (code with quotes, backslashes, newlines and non-ASCII text).
inline std::string claude_code_like_request() {
  json tools = json::array();
  for (int i = 0; i < 24; ++i) {
    json props = json::object();
    for (int p = 0; p < 8; ++p) {
      json prop = {
          {"type", p % 3 == 0 ? "string" : (p % 3 == 1 ? "integer" : "boolean")},
          {"description", "Parameter " + std::to_string(p) + " of tool " + std::to_string(i) +
                              ": controls how the operation behaves when the input is "
                              "large, nested or contains \"quoted\" text and paths "
                              "like C:\\\\Users\\\\dev; defaults are documented."}};
      if (p == 5) prop = {{"type", "array"}, {"items", {{"type", "string"}}}, {"minItems", 1}};
      if (p == 6) prop["enum"] = {"fast", "thorough", "auto"};
      props["param_" + std::to_string(p)] = prop;
    }
    std::string description = "Tool number " + std::to_string(i) + ". ";
    for (int k = 0; k < 10; ++k)
      description +=
          "Use this tool to inspect and modify the workspace; it respects .gitignore, "
          "handles large files and reports errors precisely. ";
    tools.push_back({{"name", "tool_" + std::to_string(i)},
                     {"description", description},
                     {"input_schema",
                      {{"$schema", "http://json-schema.org/draft-07/schema#"},
                       {"type", "object"},
                       {"properties", props},
                       {"required", {"param_0"}},
                       {"additionalProperties", false}}}});
  }
  std::string system_text;
  for (int k = 0; k < 44; ++k)
    system_text +=
        "You are an interactive CLI tool that helps users with software engineering "
        "tasks. Follow the instructions below and use the tools available to you. ";
  json messages = json::array();
  for (int turn = 0; turn < 14; ++turn) {
    messages.push_back(
        {{"role", "user"},
         {"content",
          {{{"type", "text"},
            {"text", "<system-reminder>Turn " + std::to_string(turn) + "</system-reminder>"}},
           {{"type", "text"},
            {"text", "Please fix the bug in src/module_" + std::to_string(turn) +
                         ".cpp — it crashes on “empty” input."}}}}});
    const std::string id = "toolu_01" + std::to_string(1000 + turn);
    messages.push_back(
        {{"role", "assistant"},
         {"content",
          {{{"type", "text"}, {"text", "I'll read the file first."}},
           {{"type", "tool_use"},
            {"id", id},
            {"name", "tool_" + std::to_string(turn % 24)},
            {"input",
             {{"param_0", "src/module_" + std::to_string(turn) + ".cpp"}, {"param_1", 200}}}}}}});
    std::string code;
    for (int line = 0; line < 30; ++line)
      code += "    if (s.find(\"\\\\\") != npos) { out += \"\\t\"; }  // line " +
              std::to_string(line) + " é\n";
    messages.push_back(
        {{"role", "user"},
         {"content", {{{"type", "tool_result"}, {"tool_use_id", id}, {"content", code}}}}});
  }
  messages.push_back({{"role", "user"}, {"content", "Now run the tests."}});
  json body = {
      {"model", "claude-sonnet-4-20250514"},
      {"max_tokens", 32000},
      {"stream", true},
      {"system",
       {{{"type", "text"},
         {"text", "You are Claude Code, Anthropic's official CLI for Claude."},
         {"cache_control", {{"type", "ephemeral"}}}},
        {{"type", "text"}, {"text", system_text}, {"cache_control", {{"type", "ephemeral"}}}}}},
      {"tools", tools},
      {"messages", messages},
      {"metadata", {{"user_id", "user_abc_account_123_session_456"}}}};
  return body.dump();
}

}  // namespace convert_test
