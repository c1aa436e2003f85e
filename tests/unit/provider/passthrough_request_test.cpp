#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "aiclient/provider/provider.hpp"

namespace aiclient::provider {
namespace {

using upstream::header;

pool::instance make_instance(std::string type, std::string uuid, std::string base_url,
                             std::string key) {
  pool::instance inst;
  inst.type = std::move(type);
  inst.uuid = std::move(uuid);
  inst.base_url = std::move(base_url);
  inst.api_key = std::move(key);
  return inst;
}

// build_passthrough into a fresh request; nullopt when it fails.
std::optional<upstream::request> passthrough(const pool::instance& inst, passthrough_input in,
                                             std::string* error) {
  upstream::request req;
  if (!build_passthrough(inst, std::move(in), req, error)) return std::nullopt;
  return req;
}

bool has(const std::vector<header>& hs, const std::string& name, const std::string& value) {
  return std::find(hs.begin(), hs.end(), header{name, value}) != hs.end();
}

TEST(passthrough_request, fixed_headers_are_prepared_once_and_client_headers_added_per_request) {
  const auto inst = make_instance("claude-custom", "c-1", "http://127.0.0.1:9/base", "sk-ant-1");
  const std::vector<std::pair<std::string_view, std::string_view>> client = {
      {"anthropic-beta", "tools-2024"}, {"authorization", "Bearer client-secret"}};
  passthrough_input in;
  in.client_headers = &client;
  in.body = R"({"model":"m"})";
  std::string err;
  auto a = passthrough(inst, std::move(in), &err);
  ASSERT_TRUE(a) << err;
  ASSERT_NE(a->prepared, nullptr);
  const auto& base = a->prepared->base;
  EXPECT_EQ(base.method, "POST");
  EXPECT_EQ(base.target.path, "/base/v1/messages");
  EXPECT_TRUE(has(base.headers, "x-api-key", "sk-ant-1"));
  EXPECT_TRUE(has(base.headers, "content-type", "application/json"));
  // The client's protocol header and the default version, never its credentials.
  EXPECT_EQ(a->headers, (std::vector<header>{{"anthropic-beta", "tools-2024"},
                                             {"anthropic-version", "2023-06-01"}}));
  EXPECT_EQ(a->body, R"({"model":"m"})");
  EXPECT_NE(a->prepared->origin_head.find("POST /base/v1/messages HTTP/1.1\r\n"),
            std::string::npos);
  EXPECT_EQ(a->prepared->origin_head.find("client-secret"), std::string::npos);

  // The next request to the same instance shares the prepared head.
  auto b = passthrough(inst, passthrough_input{}, &err);
  ASSERT_TRUE(b) << err;
  EXPECT_EQ(b->prepared, a->prepared);
}

TEST(passthrough_request, new_credentials_of_an_instance_replace_its_prepared_head) {
  auto inst = make_instance("openai-custom", "o-1", "http://127.0.0.1:9/v1", "sk-old");
  auto before = passthrough(inst, passthrough_input{}, nullptr);
  ASSERT_TRUE(before);
  inst.api_key = "sk-new";  // a reload of provider_pools.json, or a refreshed OAuth token
  auto after = passthrough(inst, passthrough_input{}, nullptr);
  ASSERT_TRUE(after);
  ASSERT_NE(after->prepared, before->prepared);
  EXPECT_TRUE(has(after->prepared->base.headers, "authorization", "Bearer sk-new"));
  // A request still in flight keeps the head it was built with.
  EXPECT_TRUE(has(before->prepared->base.headers, "authorization", "Bearer sk-old"));
  inst.base_url = "http://127.0.0.1:10/v1";
  auto moved = passthrough(inst, passthrough_input{}, nullptr);
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->prepared->base.target.port, 10);
  EXPECT_EQ(moved->prepared->base.target.path, "/v1/chat/completions");
}

TEST(passthrough_request, operations_of_one_instance_have_their_own_heads) {
  const auto inst = make_instance("openai-custom", "o-2", "http://127.0.0.1:9/v1", "sk-2");
  passthrough_input list;
  list.op = operation::list_models;
  auto models = passthrough(inst, std::move(list), nullptr);
  auto chat = passthrough(inst, passthrough_input{}, nullptr);
  ASSERT_TRUE(models && chat);
  EXPECT_EQ(models->prepared->base.method, "GET");
  EXPECT_EQ(models->prepared->base.target.path, "/v1/models");
  EXPECT_FALSE(has(models->prepared->base.headers, "content-type", "application/json"));
  EXPECT_EQ(chat->prepared->base.method, "POST");
  EXPECT_EQ(chat->prepared->base.target.path, "/v1/chat/completions");
}

TEST(passthrough_request, a_query_makes_a_one_off_request_without_the_client_key) {
  const auto inst = make_instance("openai-custom", "o-3", "http://127.0.0.1:9/v1", "sk-3");
  passthrough_input in;
  in.query = "key=client-secret&api-version=2";
  auto r = passthrough(inst, std::move(in), nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prepared, nullptr);
  EXPECT_EQ(r->target.path, "/v1/chat/completions?api-version=2");
  EXPECT_TRUE(has(r->headers, "authorization", "Bearer sk-3"));
}

TEST(passthrough_request, an_unusable_base_url_is_an_error_naming_the_instance) {
  std::string err;
  auto r = passthrough(make_instance("openai-custom", "o-4", "ftp://x/v1", "k"),
                       passthrough_input{}, &err);
  EXPECT_FALSE(r);
  EXPECT_NE(err.find("o-4"), std::string::npos) << err;
}

}  // namespace
}  // namespace aiclient::provider
