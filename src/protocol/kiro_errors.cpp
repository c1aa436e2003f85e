// Classification of Kiro HTTP error answers (PROVIDERS.md 3.6).
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <exception>

#include "aiclient/protocol/kiro.hpp"

namespace aiclient::protocol::kiro {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "ThrottlingException:http://internal.amazon.com/coral/..." or
// "com.amazon.aws.codewhisperer#ThrottlingException" -> "ThrottlingException".
std::string short_type(std::string_view t) {
  if (const std::size_t hash = t.rfind('#'); hash != std::string_view::npos) {
    t.remove_prefix(hash + 1);
  }
  if (const std::size_t colon = t.find(':'); colon != std::string_view::npos) {
    t = t.substr(0, colon);
  }
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  return std::string(t);
}

// The start of a non-JSON body, cut at a character boundary, on one line.
std::string body_excerpt(std::string_view body) {
  std::size_t n = std::min<std::size_t>(body.size(), 300);
  while (n > 0 && n < body.size() && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;
  std::string out(body.substr(0, n));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void read_body(std::string_view body, error_info& info) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object o;
  if (parser.parse(body.data(), body.size()).get(doc) || doc.get_object().get(o)) {
    info.message = body_excerpt(body);
    return;
  }
  std::string_view s;
  if (!o["message"].get_string().get(s) || !o["Message"].get_string().get(s)) info.message = s;
  if (!o["reason"].get_string().get(s)) info.reason = s;
  if (!o["__type"].get_string().get(s)) info.type = short_type(s);
  simdjson::dom::object inner;
  if (!o["error"].get_object().get(inner)) {
    if (info.reason.empty() && !inner["reason"].get_string().get(s)) info.reason = s;
    if (info.message.empty() && !inner["message"].get_string().get(s)) info.message = s;
    if (info.type.empty() && !inner["type"].get_string().get(s)) info.type = short_type(s);
  }
}

}  // namespace

std::chrono::system_clock::time_point next_month_start_utc(
    std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const year_month_day today{floor<days>(now)};
  const year_month_day next = year_month_day{today.year() / today.month() / 1} + months{1};
  return time_point_cast<system_clock::duration>(sys_days{next});
}

error_info classify_error(int status, std::string_view body, std::string_view error_type_header,
                          std::chrono::system_clock::time_point now) {
  error_info info;
  try {
    read_body(body, info);
    if (!error_type_header.empty()) info.type = short_type(error_type_header);
  } catch (const std::exception&) {
    // Resource exhaustion while reading the body: classify by status alone.
  }
  if (info.message.empty()) info.message = "Kiro answered HTTP " + std::to_string(status);

  if (status == 402 || info.reason == "MONTHLY_REQUEST_COUNT") {
    info.action = error_action::quota_exhausted;
    info.client_status = 429;
    info.cooldown_until = next_month_start_utc(now);
    return info;
  }
  switch (status) {
    case 400:
    case 413:
    case 422:
      info.action = error_action::client_error;
      info.client_status = status;
      return info;
    case 401:
      info.action = error_action::refresh_and_retry;
      info.client_status = 502;
      return info;
    case 403: {
      const std::string m = lower(info.message);
      const bool bearer = m.find("bearer token") != std::string::npos ||
                          m.find("security token") != std::string::npos;
      const bool bad =
          m.find("invalid") != std::string::npos || m.find("expired") != std::string::npos;
      info.action =
          bearer && bad ? error_action::refresh_and_retry : error_action::account_unusable;
      info.client_status = 502;
      return info;
    }
    case 408:
      info.action = error_action::transient;
      info.client_status = 504;
      return info;
    case 429:
      info.action = error_action::transient;
      info.client_status = 429;
      return info;
    default:
      info.action = error_action::transient;
      info.client_status = status == 503 ? 503 : 502;
      return info;
  }
}

}  // namespace aiclient::protocol::kiro
