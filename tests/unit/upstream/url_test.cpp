#include "aiclient/upstream/url.hpp"

#include <gtest/gtest.h>

namespace aiclient::upstream {
namespace {

TEST(upstream_url, parses_https_with_default_port_and_trims_trailing_slash) {
  auto u = url::parse("https://api.openai.com/v1/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_TRUE(u->tls());
  EXPECT_EQ(u->host, "api.openai.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/v1");
  EXPECT_EQ(u->authority(), "api.openai.com:443");
}

TEST(upstream_url, parses_http_with_port_and_empty_path) {
  auto u = url::parse("http://127.0.0.1:8080");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_FALSE(u->tls());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->path, "/");
  EXPECT_EQ(u->authority(), "127.0.0.1:8080");

  auto d = url::parse("http://example.com/");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 80);
  EXPECT_EQ(d->path, "/");
}

TEST(upstream_url, keeps_the_query_after_the_path) {
  auto u = url::parse("http://h:1/a/b/?x=1&y=2");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/a/b?x=1&y=2");

  auto q = url::parse("https://generativelanguage.googleapis.com?alt=sse");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->host, "generativelanguage.googleapis.com");
  EXPECT_EQ(q->path, "/?alt=sse");

  auto colon = url::parse("https://h/v1beta/models/gemini-pro:streamGenerateContent?alt=sse");
  ASSERT_TRUE(colon);
  EXPECT_EQ(colon->path, "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse");
}

TEST(upstream_url, parses_ipv6_literals) {
  auto u = url::parse("http://[::1]:9000/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->path, "/x");
  EXPECT_EQ(u->authority(), "[::1]:9000");

  auto d = url::parse("https://[2001:DB8::5]");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "2001:db8::5");
  EXPECT_EQ(d->port, 443);
}

TEST(upstream_url, lower_cases_scheme_and_host) {
  auto u = url::parse("HTTPS://API.Example.COM/V1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->path, "/V1");
}

TEST(upstream_url, rejects_malformed_and_unsupported_urls) {
  for (const char* bad : {"",
                          "api.openai.com",
                          "ftp://host/x",
                          "http://",
                          "http:///x",
                          "http://user@host/",
                          "http://user:pw@host/",
                          "http://host:0",
                          "http://host:65536",
                          "http://host:12ab",
                          "http://host:123456",
                          "http://host/a b",
                          "http://host/a\r\nX-Injected: 1",
                          "http://host/a\tb",
                          "http://host/#frag",
                          "http://[::1/x",
                          "http://[]/",
                          "http://[::1]x/",
                          "//host/x",
                          "http:/host",
                          "http://ho st/",
                          "http://host\n/"}) {
    EXPECT_FALSE(url::parse(bad)) << "accepted: " << bad;
  }
}

TEST(upstream_url, accepts_empty_port_as_default) {
  auto u = url::parse("http://host:/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 80);
}

TEST(upstream_url, recognises_loopback_hosts) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LocalHost",
                        "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
    EXPECT_TRUE(is_loopback_host(h)) << h;
  }
  for (const char* h : {"10.0.0.1", "128.0.0.1", "example.com", "localhost.example.com",
                        "my-localhost", "::2", "", "1.127.0.0", "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(is_loopback_host(h)) << h;
  }
}

}  // namespace
}  // namespace aiclient::upstream
