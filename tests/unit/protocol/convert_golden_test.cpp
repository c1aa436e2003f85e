// Golden conversions of requests, complete responses and model lists between the three
// protocols (tests/fixtures/convert/<from>_to_<to>/, see convert_test_support.hpp), and round
// trips: every fixture input decoded and encoded again in its own protocol gives back an
// equivalent document.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "convert_test_support.hpp"

namespace {

using namespace convert_test;

std::string case_label(const ::testing::TestParamInfo<golden_case>& info) {
  return info.param.dir + "__" + info.param.name;
}

class convert_golden : public ::testing::TestWithParam<golden_case> {};

TEST_P(convert_golden, matches_expected_output) {
  const golden_case& c = GetParam();
  const std::string input = read_file(case_path(c, ".in.json"));
  ASSERT_FALSE(input.empty()) << case_path(c, ".in.json");
  const convert_result r = run_conversion(c, c.from, c.to, input);

  const std::string error_path = case_path(c, ".error.txt");
  if (file_exists(error_path)) {
    std::string expected = read_file(error_path);
    while (!expected.empty() && (expected.back() == '\n' || expected.back() == '\r'))
      expected.pop_back();
    ASSERT_FALSE(r.ok()) << "expected an error, got " << r.body;
    EXPECT_NE(r.error.find(expected), std::string::npos) << "error: " << r.error;
    EXPECT_EQ(r.error.find('\n'), std::string::npos) << "errors are one line: " << r.error;
    return;
  }
  ASSERT_TRUE(r.ok()) << r.error;
  json actual;
  ASSERT_NO_THROW(actual = json::parse(r.body)) << "output is not JSON: " << r.body;

  const std::string out_path = case_path(c, ".out.json");
  const std::string golden_text = read_file(out_path);
  if (updating_goldens()) {
    const json old = golden_text.empty() ? json() : json::parse(golden_text, nullptr, false);
    std::ofstream(out_path, std::ios::binary)
        << keep_patterns(old.is_discarded() ? json() : old, actual).dump(2) << '\n';
    return;
  }
  ASSERT_FALSE(golden_text.empty())
      << "missing golden " << out_path << " (AICLIENT_UPDATE_GOLDEN=1 writes it)";
  const json expected = json::parse(golden_text);
  EXPECT_TRUE(matches(expected, actual)) << "expected:\n"
                                         << expected.dump(2) << "\nactual:\n"
                                         << actual.dump(2) << "\ndiff (expected -> actual):\n"
                                         << json::diff(expected, actual).dump(2);
}

INSTANTIATE_TEST_SUITE_P(convert, convert_golden, ::testing::ValuesIn(all_cases()), case_label);

TEST(convert_golden_fixtures, cover_all_six_directions_for_each_kind) {
  std::set<std::string> seen;
  for (const golden_case& c : all_cases()) seen.insert(c.dir + "/" + c.kind);
  for (const char* dir : {"openai_to_claude", "openai_to_gemini", "claude_to_openai",
                          "claude_to_gemini", "gemini_to_openai", "gemini_to_claude"}) {
    for (const char* kind : {"request", "response", "models"}) {
      EXPECT_TRUE(seen.count(std::string(dir) + "/" + kind))
          << dir << " has no " << kind << " case";
    }
  }
}

// Round trips: a protocol's own features survive decode + encode in that protocol. Inputs are
// the golden inputs of every <p>_to_* folder; the few listed here are written in a form the
// encoder normalises (the reason is given) and are compared after that normalisation instead.
const std::map<std::string, std::string>& normalised_inputs() {
  static const std::map<std::string, std::string> m = {
      {"gemini_to_openai/request_snake_case",
       "snake_case field names come back in camelCase (both are valid Gemini JSON)"},
      {"gemini_to_claude/request_snake_case",
       "snake_case field names come back in camelCase (both are valid Gemini JSON)"},
      {"gemini_to_claude/response_blocked",
       "a blocked prompt (no candidates, promptFeedback) comes back as a SAFETY candidate"},
      {"gemini_to_openai/request_tools_uppercase_types",
       "schema types come back in lower case (JSON Schema spelling, valid Gemini JSON)"},
      {"gemini_to_claude/request_tools_uppercase_types",
       "schema types come back in lower case (JSON Schema spelling, valid Gemini JSON)"},
  };
  return m;
}

class convert_roundtrip : public ::testing::TestWithParam<golden_case> {};

TEST_P(convert_roundtrip, gives_back_an_equivalent_document) {
  const golden_case& c = GetParam();
  const std::string input = read_file(case_path(c, ".in.json"));
  const convert_result r = run_conversion(c, c.from, c.from, input);
  ASSERT_TRUE(r.ok()) << r.error;
  const json actual = json::parse(r.body);
  json expected = json::parse(input);
  if (c.from == wire_protocol::gemini && c.kind == "request") expected.erase("model");
  const auto it = normalised_inputs().find(c.dir + "/" + c.name);
  if (it != normalised_inputs().end()) {
    // Normalised once, the document is a fixed point.
    const convert_result again = run_conversion(c, c.from, c.from, r.body);
    ASSERT_TRUE(again.ok()) << again.error;
    EXPECT_EQ(json::parse(again.body), actual) << it->second;
    return;
  }
  EXPECT_EQ(expected, actual) << "diff (input -> round trip):\n"
                              << json::diff(expected, actual).dump(2);
}

std::vector<golden_case> roundtrip_cases() {
  std::vector<golden_case> out;
  std::set<std::string> inputs;  // each input once (folders of one source share inputs)
  for (const golden_case& c : all_cases()) {
    if (file_exists(case_path(c, ".error.txt"))) continue;
    const std::string key = std::string(aiclient::protocol::to_string(c.from)) + "\n" +
                            read_file(case_path(c, ".in.json"));
    if (!inputs.insert(key).second) continue;
    out.push_back(c);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(convert, convert_roundtrip, ::testing::ValuesIn(roundtrip_cases()),
                         case_label);

}  // namespace
