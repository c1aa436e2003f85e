#include "aiclient/util/atomic_file.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace aiclient::util {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A fresh folder per test, removed afterwards.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "atomic_file_test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_plain(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Temporary files atomic_write_file made for `base` in `dir`.
std::vector<std::string> temp_files(const fs::path& dir, const std::string& base) {
  std::vector<std::string> out;
  const std::string prefix = "." + base + ".tmp-";
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  return out;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// A JSON document of about `bytes`, every value tagged with `tag`.
std::string big_json(const std::string& tag, std::size_t bytes) {
  std::string out = "{\"openai-custom\":[";
  for (int i = 0; out.size() < bytes; ++i) {
    if (i > 0) out += ',';
    out += "{\"uuid\":\"" + tag + "-" + std::to_string(i) + "\",\"OPENAI_API_KEY\":\"sk-" + tag +
           "\",\"isHealthy\":true,\"usageCount\":" + std::to_string(i) + "}";
  }
  out += "]}";
  return out;
}

// Polls `done` every few ms until it holds or `limit` passes.
template <class Pred>
bool wait_for(Pred done, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// ---- atomic_write_file ----------------------------------------------------------------------

TEST(atomic_write_file, creates_a_new_file_with_mode_0600) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  EXPECT_EQ(atomic_write_file(path, "{\"a\":1}"), "");
  EXPECT_EQ(read_file(path), "{\"a\":1}");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_TRUE(temp_files(dir.path(), "provider_pools.json").empty());
}

TEST(atomic_write_file, replaces_content_and_keeps_permission_bits) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  write_plain(path, "old content that is longer than the new one");
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_EQ(atomic_write_file(path, "new"), "");
  EXPECT_EQ(read_file(path), "new");
  EXPECT_EQ(mode_of(path), 0640u);

  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_EQ(atomic_write_file(path, ""), "");
  EXPECT_EQ(read_file(path), "");
  EXPECT_EQ(mode_of(path), 0644u);
  EXPECT_TRUE(temp_files(dir.path(), "provider_pools.json").empty());
}

TEST(atomic_write_file, keeps_the_owner_when_allowed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file another owner";
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  write_plain(path, "old");
  ASSERT_EQ(::chown(path.c_str(), 4321, 4322), 0);
  EXPECT_EQ(atomic_write_file(path, "new"), "");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 4322u);
  EXPECT_EQ(read_file(path), "new");
}

TEST(atomic_write_file, writes_large_content_whole) {
  temp_dir dir;
  const auto path = dir.file("big.json");
  const std::string content = big_json("big", 3 << 20);
  EXPECT_EQ(atomic_write_file(path, content), "");
  EXPECT_EQ(read_file(path), content);
}

TEST(atomic_write_file, missing_folder_fails_with_a_one_line_error_naming_the_path) {
  temp_dir dir;
  const auto path = dir.file("no-such-folder/provider_pools.json");
  const std::string error = atomic_write_file(path, "{}");
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(path));
}

TEST(atomic_write_file, target_that_is_a_folder_fails_and_leaves_no_temp_file) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  fs::create_directory(path);
  write_plain(path + "/inside", "x");
  const std::string error = atomic_write_file(path, "{}");
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("rename"), std::string::npos) << error;
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_EQ(read_file(path + "/inside"), "x");
  EXPECT_TRUE(temp_files(dir.path(), "provider_pools.json").empty());
}

TEST(atomic_write_file, symlink_stays_a_link_and_its_target_gets_the_content) {
  temp_dir dir;
  fs::create_directory(dir.path() / "real");
  const auto real = dir.file("real/provider_pools.json");
  const auto link = dir.file("provider_pools.json");
  write_plain(real, "old");
  ASSERT_EQ(::chmod(real.c_str(), 0640), 0);
  fs::create_symlink("real/provider_pools.json", link);  // relative to the link's folder

  EXPECT_EQ(atomic_write_file(link, "new"), "");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), "real/provider_pools.json");
  EXPECT_EQ(read_file(real), "new");
  EXPECT_EQ(mode_of(real), 0640u);
  EXPECT_TRUE(temp_files(dir.path(), "provider_pools.json").empty());
  EXPECT_TRUE(temp_files(dir.path() / "real", "provider_pools.json").empty());

  // A link to a link to a missing file: the final target is created, both links stay.
  const auto link2 = dir.file("second.json");
  fs::create_symlink(dir.file("first.json"), link2);
  fs::create_symlink("real/made.json", dir.file("first.json"));
  EXPECT_EQ(atomic_write_file(link2, "made"), "");
  EXPECT_TRUE(fs::is_symlink(link2));
  EXPECT_TRUE(fs::is_symlink(dir.file("first.json")));
  EXPECT_EQ(read_file(dir.file("real/made.json")), "made");
  EXPECT_EQ(mode_of(dir.file("real/made.json")), 0600u);
}

TEST(atomic_write_file, symlink_loop_fails_cleanly) {
  temp_dir dir;
  fs::create_symlink(dir.file("b"), dir.file("a"));
  fs::create_symlink(dir.file("a"), dir.file("b"));
  const std::string error = atomic_write_file(dir.file("a"), "x");
  EXPECT_NE(error.find(dir.file("a")), std::string::npos) << error;
  EXPECT_TRUE(fs::is_symlink(dir.file("a")));
}

// A child rewrites the file in a tight loop, alternating two large valid documents; it is
// SIGKILLed at random moments. After every kill the file must be exactly one of the two.
// A kill in the middle of a write leaves that write's temporary file behind (nothing can
// remove it); remove_stale_temp_files() (run by debounced_saver at start) cleans those.
TEST(atomic_write_file, survives_sigkill_at_random_moments) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  const std::string a = big_json("alpha", 200 * 1024);
  const std::string b = big_json("bravo-longer", 230 * 1024);
  ASSERT_EQ(atomic_write_file(path, a), "");

  std::mt19937 rng(12345);
  constexpr int rounds = 50;
  int seen_a = 0;
  int seen_b = 0;
  int left_over = 0;
  for (int round = 0; round < rounds; ++round) {
    int progress[2];
    ASSERT_EQ(::pipe(progress), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(progress[0]);
      for (std::uint64_t i = 0;; ++i) {
        if (!atomic_write_file(path, (i + round) % 2 == 0 ? b : a).empty()) ::_exit(3);
        if (i == 0 && ::write(progress[1], "w", 1) != 1) ::_exit(4);
      }
    }
    ::close(progress[1]);
    // Wait until the child has completed one write, then kill it somewhere in the next ones.
    char byte = 0;
    const ssize_t got = ::read(progress[0], &byte, 1);
    ::close(progress[0]);
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 6000)(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_EQ(got, 1) << "the child could not write (exit status " << status << ")";

    const std::string now = read_file(path);
    ASSERT_TRUE(now == a || now == b)
        << "round " << round << ": file has " << now.size() << " bytes, neither version";
    (now == a ? seen_a : seen_b)++;

    const auto temps = temp_files(dir.path(), "provider_pools.json");
    EXPECT_LE(temps.size(), 1u) << "round " << round;
    left_over += int(temps.size());
    EXPECT_EQ(remove_stale_temp_files(path), temps.size());
    EXPECT_TRUE(temp_files(dir.path(), "provider_pools.json").empty());
  }
  EXPECT_EQ(seen_a + seen_b, rounds);
  EXPECT_EQ(read_file(path).substr(0, 18), "{\"openai-custom\":[");
  RecordProperty("kills_mid_write", left_over);
}

TEST(remove_stale_temp_files, keeps_files_of_live_processes_and_other_files) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  write_plain(path, "{}");
  const std::string mine =
      "." + std::string("provider_pools.json") + ".tmp-" + std::to_string(::getpid()) + "-abc";
  write_plain(dir.file(mine), "in progress");
  write_plain(dir.file(".other.json.tmp-999999999-abc"), "not ours");
  write_plain(dir.file(".provider_pools.json.tmp-notapid-abc"), "not ours either");
  EXPECT_EQ(remove_stale_temp_files(path), 0u);
  EXPECT_TRUE(fs::exists(dir.file(mine)));
  EXPECT_EQ(read_file(path), "{}");

  // A dead process's file goes. (pid of a child that has exited and been reaped.)
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const std::string dead = ".provider_pools.json.tmp-" + std::to_string(child) + "-abc";
  write_plain(dir.file(dead), "stale");
  EXPECT_EQ(remove_stale_temp_files(path), 1u);
  EXPECT_FALSE(fs::exists(dir.file(dead)));
  EXPECT_TRUE(fs::exists(dir.file(mine)));
  EXPECT_TRUE(fs::exists(dir.file(".other.json.tmp-999999999-abc")));
}

// ---- identify_file --------------------------------------------------------------------------

TEST(identify_file, changes_when_the_file_is_replaced_or_edited) {
  temp_dir dir;
  const auto path = dir.file("f.json");
  EXPECT_FALSE(identify_file(path).has_value());
  write_plain(path, "one");
  const auto first = identify_file(path);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->size, 3u);
  EXPECT_EQ(identify_file(path), first);
  ASSERT_EQ(atomic_write_file(path, "two"), "");  // same size, new inode
  const auto second = identify_file(path);
  EXPECT_NE(second, first);
  write_plain(path, "three!");  // in place: same inode, new size and mtime
  const auto third = identify_file(path);
  EXPECT_EQ(third->inode, second->inode);
  EXPECT_NE(third, second);
}

// ---- debounced_saver ------------------------------------------------------------------------

// The state a saver serialises, with counters of the callbacks.
struct fake_state {
  std::mutex mu;
  std::string text = "{}";
  std::atomic<int> produced{0};
  std::atomic<int> external{0};
  std::string reloaded;

  std::function<std::string()> produce() {
    return [this] {
      ++produced;
      std::lock_guard lock(mu);
      return text;
    };
  }
  std::function<void()> reload(const std::string& path) {
    return [this, path] {
      ++external;
      std::lock_guard lock(mu);
      reloaded = read_file(path);
    };
  }
  void set(const std::string& t) {
    std::lock_guard lock(mu);
    text = t;
  }
};

TEST(debounced_saver, many_schedules_within_the_debounce_make_one_write) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  fake_state state;
  debounced_saver saver(path, state.produce(), nullptr, {100ms, 5000ms});
  for (int i = 0; i < 50; ++i) {
    state.set("{\"n\":" + std::to_string(i) + "}");
    saver.schedule();
  }
  ASSERT_TRUE(wait_for([&] { return saver.writes() == 1; }));
  EXPECT_EQ(read_file(path), "{\"n\":49}");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(saver.writes(), 1u);
  EXPECT_EQ(state.produced, 1);
  EXPECT_EQ(saver.last_error(), "");
}

TEST(debounced_saver, continuous_schedules_still_write_within_max_wait) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  fake_state state;
  debounced_saver saver(path, state.produce(), nullptr, {200ms, 500ms});
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration first_write{};
  for (int i = 0; i < 60 && saver.writes() == 0; ++i) {  // at most 3 s of changes
    state.set("{\"n\":" + std::to_string(i) + "}");
    saver.schedule();
    std::this_thread::sleep_for(50ms);
    if (saver.writes() > 0) first_write = std::chrono::steady_clock::now() - start;
  }
  ASSERT_EQ(saver.writes(), 1u) << "changes every 50 ms postponed the save past 3 s";
  // Debounce alone would never fire here; max_wait (500 ms) must. Generous bound for load.
  EXPECT_LE(first_write, 2000ms);
  EXPECT_NE(read_file(path), "");
}

TEST(debounced_saver, flush_writes_synchronously_and_only_when_dirty) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  fake_state state;
  debounced_saver saver(path, state.produce(), nullptr, {1h, 2h});
  EXPECT_EQ(saver.flush(), "");  // nothing pending
  EXPECT_EQ(saver.writes(), 0u);
  EXPECT_FALSE(fs::exists(path));

  state.set("{\"flushed\":true}");
  saver.schedule();
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(saver.writes(), 1u);
  EXPECT_EQ(read_file(path), "{\"flushed\":true}");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(saver.writes(), 1u);
}

TEST(debounced_saver, destructor_flushes_pending_changes) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  fake_state state;
  {
    debounced_saver saver(path, state.produce(), nullptr, {1h, 2h});
    state.set("{\"at\":\"shutdown\"}");
    saver.schedule();
  }
  EXPECT_EQ(read_file(path), "{\"at\":\"shutdown\"}");
}

TEST(debounced_saver, calls_on_external_change_only_for_other_writers) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  write_plain(path, "{\"loaded\":1}");
  fake_state state;
  debounced_saver saver(path, state.produce(), state.reload(path), {1h, 2h});
  saver.adopt();  // we loaded the file at start

  state.set("{\"ours\":1}");
  saver.schedule();
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(state.external, 0) << "adopted file taken for an external edit";
  state.set("{\"ours\":2}");
  saver.schedule();
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(state.external, 0) << "our own write taken for an external edit";

  // An operator replaces the file (as an editor does: new inode).
  ASSERT_EQ(atomic_write_file(path, "{\"operator\":\"edit\"}"), "");
  state.set("{\"ours\":3}");
  saver.schedule();
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(state.external, 1);
  EXPECT_EQ(state.reloaded, "{\"operator\":\"edit\"}");
  EXPECT_EQ(read_file(path), "{\"ours\":3}");

  // An operator edits it in place (same inode, other size).
  write_plain(path, "{\"operator\":\"in place\"}");
  saver.schedule();
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(state.external, 2);
  EXPECT_EQ(state.reloaded, "{\"operator\":\"in place\"}");

  saver.schedule();
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(state.external, 2);
  EXPECT_EQ(saver.writes(), 5u);
}

TEST(debounced_saver, without_adopt_an_existing_file_is_reloaded_before_the_first_save) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  write_plain(path, "{\"before\":1}");
  fake_state state;
  debounced_saver saver(path, state.produce(), state.reload(path), {1h, 2h});
  saver.schedule();
  EXPECT_EQ(saver.flush(), "");
  EXPECT_EQ(state.external, 1);
  EXPECT_EQ(state.reloaded, "{\"before\":1}");
}

TEST(debounced_saver, a_failed_write_is_logged_once_kept_dirty_and_retried) {
  temp_dir dir;
  const auto folder = dir.file("state");
  const auto path = folder + "/provider_pools.json";

  std::ostringstream log;
  auto previous = spdlog::default_logger();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("atomic_file_test", sink));

  fake_state state;
  state.set("{\"retried\":true}");
  {
    debounced_saver saver(path, state.produce(), nullptr, {20ms, 150ms});
    saver.schedule();
    ASSERT_TRUE(wait_for([&] { return state.produced >= 3; }))
        << "no retry after max_wait without a new schedule()";
    EXPECT_EQ(saver.writes(), 0u);
    EXPECT_NE(saver.last_error().find(path), std::string::npos) << saver.last_error();
    const std::string error = saver.last_error();
    EXPECT_NE(saver.flush(), "");  // still dirty: flush tries again

    fs::create_directory(folder);  // the cause goes away
    saver.schedule();
    ASSERT_TRUE(wait_for([&] { return saver.writes() == 1; }));
    EXPECT_EQ(saver.last_error(), "");
    EXPECT_EQ(read_file(path), "{\"retried\":true}");

    spdlog::default_logger()->flush();
    const std::string text = log.str();
    std::size_t count = 0;
    for (auto at = text.find(error); at != std::string::npos; at = text.find(error, at + 1))
      ++count;
    EXPECT_EQ(count, 1u) << text;
  }
  spdlog::set_default_logger(previous);
}

TEST(debounced_saver, saves_made_from_many_threads_end_with_the_last_state) {
  temp_dir dir;
  const auto path = dir.file("provider_pools.json");
  fake_state state;
  state.set("{\"n\":0}");
  std::atomic<int> counter{0};
  {
    debounced_saver saver(path, state.produce(), nullptr, {5ms, 20ms});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 200; ++i) {
          const int n = ++counter;
          {
            std::lock_guard lock(state.mu);
            if (n > std::stoi(state.text.substr(5)))
              state.text = "{\"n\":" + std::to_string(n) + "}";
          }
          saver.schedule();
          if (i % 50 == 0) std::this_thread::sleep_for(10ms);
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(read_file(path), "{\"n\":800}");
  EXPECT_TRUE(temp_files(dir.path(), "provider_pools.json").empty());
}

}  // namespace
}  // namespace aiclient::util
