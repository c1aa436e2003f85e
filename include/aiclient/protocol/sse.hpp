#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aiclient::protocol {

/// Splits a Server-Sent Events byte stream into whole events without interpreting them, so a
/// relay can forward upstream bytes unchanged, event by event.
///
/// An event ends at a blank line: two line terminators in a row, where a terminator is "\r\n",
/// "\n" or "\r" (so "\n\n", "\r\n\r\n", "\r\r", "\r\n\n", ... all end an event). Each byte is
/// scanned once (the scan state survives across feed() calls), and the buffer is only
/// compacted when handed-out bytes are dropped, so the cost is amortised O(n) with no
/// allocation per event.
///
/// A blank line whose last terminator is a lone "\r" at the very end of the buffered bytes is
/// only confirmed by the next byte (it may be the first half of "\r\n"), or by take_all(). This
/// keeps the output byte-identical however the input is split.
///
/// Views returned by take_complete() and take_all() point into the framer and stay valid until
/// the next call of a non-const member function. The bytes they cover are removed from the
/// framer: they are dropped (lazily) at that next call.
class sse_framer {
 public:
  /// Appends bytes received from upstream.
  void feed(std::string_view bytes);

  /// The longest prefix of the buffered bytes that ends at an event boundary (possibly several
  /// events), or an empty view when no event is complete. The prefix is removed from the framer.
  std::string_view take_complete();

  /// All buffered bytes, complete or not (for a clean end of stream); the framer is empty after.
  std::string_view take_all();

  /// Bytes after the last event boundary (an incomplete event), not yet handed out.
  std::string_view pending() const noexcept;

  /// Size of pending() (useful to enforce a maximum event size).
  std::size_t pending_size() const noexcept { return buf_.size() - boundary_; }

  /// Drops all state, as for a new stream.
  void reset() noexcept;

 private:
  void drop_taken();
  void scan();

  std::string buf_;
  std::size_t taken_ = 0;     ///< handed-out prefix of buf_, dropped at the next mutation
  std::size_t boundary_ = 0;  ///< end of the last confirmed event boundary in buf_ (>= taken_)
  std::size_t scanned_ = 0;   ///< bytes of buf_ already scanned
  bool line_empty_ = true;    ///< the current line has no characters yet
  bool cr_pending_ = false;   ///< the last scanned byte was '\r' (a "\n" may follow)
  bool cr_blank_ = false;     ///< that '\r' ended a blank line
};

/// One parsed Server-Sent Event.
struct sse_event {
  std::string event;              ///< value of the `event:` field; empty when the event had none
  std::string data;               ///< `data:` lines joined with "\n"
  std::optional<std::string> id;  ///< value of the `id:` field, when this event carried one
  std::optional<std::uint64_t> retry;  ///< value of a valid `retry:` field in this event
};

/// Incremental SSE parser (WHATWG rules): lines end with "\r\n", "\n" or "\r"; "field: value"
/// (one leading space stripped from the value); lines starting with ':' are comments; a blank
/// line dispatches the event when it had at least one `data` line; unknown fields are ignored;
/// a leading UTF-8 BOM is skipped. An event (or a line) larger than the maximum size puts the
/// parser in an error state: it then ignores all input and feed() returns false.
///
/// The callback receives a reference to an internal event object that is reused (no allocation
/// per event once its strings have grown); copy what you keep.
class sse_parser {
 public:
  /// Default maximum size of one event (sum of its field values and of the line being read).
  static constexpr std::size_t default_max_event_size = 16u * 1024 * 1024;

  /// A parser that rejects events larger than `max_event_size` bytes.
  explicit sse_parser(std::size_t max_event_size = default_max_event_size)
      : max_event_size_(max_event_size) {}

  /// Feeds bytes and calls `on_event(const sse_event&)` for each completed event. Returns false
  /// when the parser is (or has just gone) in the error state.
  template <class F>
  bool feed(std::string_view bytes, F&& on_event) {
    append(bytes);
    while (next()) on_event(static_cast<const sse_event&>(event_));
    return !failed();
  }

  /// End of stream: calls `on_event` for the events still buffered, then processes a last
  /// line without terminator and dispatches a last event that has data but no closing blank
  /// line (lenient: the standard drops it). Returns false in the error state. The parser is
  /// then ready for a new stream (unless in the error state).
  template <class F>
  bool finish(F&& on_event) {
    while (finish_event()) on_event(static_cast<const sse_event&>(event_));
    return !failed();
  }

  /// Pull interface: appends bytes without parsing them.
  void append(std::string_view bytes);

  /// Pull interface: parses buffered bytes up to the next complete event; true when one is
  /// available in current(), false when more bytes are needed (or in the error state).
  bool next();

  /// Pull interface: the event last returned by next().
  const sse_event& current() const noexcept { return event_; }

  /// Pull interface for the end of stream: call until it returns false; each true return makes
  /// one more event available in current().
  bool finish_event();

  /// True once an event exceeded the maximum size.
  bool failed() const noexcept { return !error_.empty(); }

  /// Description of the error state (empty when none).
  const std::string& error() const noexcept { return error_; }

  /// Last `id` seen on the stream (persists across events, as in the standard).
  const std::string& last_event_id() const noexcept { return last_event_id_; }

  /// Drops all state (including the error state), as for a new stream.
  void reset();

 private:
  void process_line(std::string_view line);
  bool dispatch();
  void clear_event();

  std::size_t max_event_size_;
  std::string buf_;
  std::size_t pos_ = 0;         ///< start of the first unparsed line in buf_
  std::size_t scan_from_ = 0;   ///< buf_ before this holds no line terminator after pos_
  bool skip_lf_ = false;        ///< the last line ended with '\r': skip a '\n' that follows
  bool bom_checked_ = false;    ///< the leading BOM check is done
  bool has_data_ = false;       ///< the current event has at least one data line
  bool ready_ = false;          ///< event_ holds a dispatched event (cleared on next parse)
  std::size_t event_size_ = 0;  ///< bytes accumulated in the current event
  sse_event event_;
  std::string last_event_id_;
  std::string error_;
};

}  // namespace aiclient::protocol
