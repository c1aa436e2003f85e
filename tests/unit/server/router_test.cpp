#include <gtest/gtest.h>

#include "aiclient/server/router.hpp"

namespace aiclient::server {
namespace {

using protocol::wire_protocol;

TEST(router, routes_map_to_endpoints_and_protocols) {
  EXPECT_EQ(match_route("POST", "/v1/chat/completions", false).ep, endpoint::chat_completions);
  EXPECT_EQ(match_route("POST", "/v1/chat/completions", false).proto, wire_protocol::openai);
  EXPECT_EQ(match_route("POST", "/v1/messages", false).proto, wire_protocol::claude);
  EXPECT_EQ(match_route("POST", "/v1/messages/count_tokens", false).ep, endpoint::count_tokens);
  EXPECT_EQ(match_route("GET", "/v1/models", false).proto, wire_protocol::openai);
  EXPECT_EQ(match_route("GET", "/v1/models", true).proto, wire_protocol::claude);
  EXPECT_EQ(match_route("GET", "/health", false).ep, endpoint::health);
  EXPECT_EQ(match_route("GET", "/v1beta/models", false).ep, endpoint::gemini_models);
}

TEST(router, gemini_model_and_verb) {
  auto r = match_route("POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent", false);
  EXPECT_EQ(r.ep, endpoint::gemini_stream);
  EXPECT_EQ(r.gemini_model, "gemini-2.5-pro");
  EXPECT_EQ(r.proto, wire_protocol::gemini);
  auto g = match_route("POST", "/v1beta/models/gemini-2.5-flash:generateContent", false);
  EXPECT_EQ(g.ep, endpoint::gemini_generate);
  auto count = match_route("POST", "/v1beta/models/gemini-2.5-pro:countTokens", false);
  EXPECT_EQ(count.ep, endpoint::count_tokens);
  EXPECT_EQ(count.proto, wire_protocol::gemini);
  EXPECT_EQ(count.gemini_model, "gemini-2.5-pro");
  EXPECT_FALSE(
      match_route("GET", "/v1beta/models/gemini-2.5-pro:countTokens", false).method_allowed);
  auto bad = match_route("POST", "/v1beta/models/x:explode", false);
  EXPECT_EQ(bad.ep, endpoint::unknown);
  EXPECT_EQ(bad.proto, wire_protocol::gemini);
}

TEST(router, provider_prefix_is_stripped) {
  auto r = match_route("POST", "/claude-custom/v1/messages", false);
  EXPECT_EQ(r.provider, "claude-custom");
  EXPECT_EQ(r.ep, endpoint::messages);
  auto o = match_route("POST", "/openai-custom/v1/chat/completions", false);
  EXPECT_EQ(o.provider, "openai-custom");
  EXPECT_EQ(o.ep, endpoint::chat_completions);
  EXPECT_EQ(match_route("POST", "/not-a-provider/v1/messages", false).ep, endpoint::unknown);
}

TEST(router, wrong_method_is_flagged_with_the_allowed_one) {
  auto r = match_route("GET", "/v1/chat/completions", false);
  EXPECT_FALSE(r.method_allowed);
  EXPECT_EQ(r.allowed_method, "POST");
  EXPECT_TRUE(match_route("GET", "/v1/models/", false).method_allowed);
}

TEST(router, split_target) {
  auto [p, q] = split_target("/v1/messages?beta=true");
  EXPECT_EQ(p, "/v1/messages");
  EXPECT_EQ(q, "beta=true");
  auto [p2, q2] = split_target("/health");
  EXPECT_EQ(p2, "/health");
  EXPECT_EQ(q2, "");
}

TEST(auth, every_key_form_is_accepted) {
  const std::string key = "gw-key-0123456789";
  EXPECT_TRUE(client_authorized({{"authorization", "Bearer gw-key-0123456789"}}, "", key));
  EXPECT_TRUE(client_authorized({{"authorization", "bearer  gw-key-0123456789 "}}, "", key));
  EXPECT_TRUE(client_authorized({{"x-api-key", "gw-key-0123456789"}}, "", key));
  EXPECT_TRUE(client_authorized({{"x-goog-api-key", "gw-key-0123456789"}}, "", key));
  EXPECT_TRUE(client_authorized({}, "alt=sse&key=gw-key-0123456789", key));
}

TEST(auth, wrong_or_missing_keys_are_refused) {
  const std::string key = "gw-key-0123456789";
  EXPECT_FALSE(client_authorized({}, "", key));
  EXPECT_FALSE(client_authorized({{"authorization", "Bearer gw-key-012345678"}}, "", key));
  EXPECT_FALSE(client_authorized({{"authorization", "gw-key-0123456789"}}, "", key));  // no scheme
  EXPECT_FALSE(client_authorized({{"x-api-key", ""}}, "", key));
  EXPECT_FALSE(client_authorized({{"x-other", "gw-key-0123456789"}}, "", key));
  EXPECT_FALSE(client_authorized({}, "key=", key));
  // A wrong key in one header and the right one in another: accepted (clients send both).
  EXPECT_TRUE(client_authorized({{"authorization", "Bearer nope"}, {"x-api-key", key}}, "", key));
}

TEST(auth, no_configured_key_accepts_everyone) {
  EXPECT_TRUE(client_authorized({}, "", ""));
}

}  // namespace
}  // namespace aiclient::server
