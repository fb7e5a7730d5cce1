#include "src/common/logging.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace ferry::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kWarning)};

struct Sink {
  std::mutex mu;
  FILE* file = nullptr;  // Guarded by mu.
  std::string prefix;    // Guarded by mu.
};
Sink& GetSinkState() {
  static Sink* s = new Sink();  // Never destroyed: logging may run during exit.
  return *s;
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "D";
    case Level::kInfo:
      return "I";
    case Level::kWarning:
      return "W";
    case Level::kError:
      return "E";
    case Level::kFatal:
      return "F";
  }
  return "?";
}

}  // namespace

Level ParseLevel(std::string_view s) {
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "error") return Level::kError;
  return Level::kWarning;
}
void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level GetLevel() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

void SetSink(const std::string& path, const std::string& prefix) {
  Sink& s = GetSinkState();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.file != nullptr) std::fclose(s.file);
  s.file = path.empty() ? nullptr : std::fopen(path.c_str(), "a");
  s.prefix = prefix;
}

void CloseSink() {
  Sink& s = GetSinkState();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.file != nullptr) std::fclose(s.file);
  s.file = nullptr;
}

void Write(Level level, const char* file, int line, const std::string& msg) {
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
            1000000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
  Sink& s = GetSinkState();
  std::lock_guard<std::mutex> lock(s.mu);
  char head[160];
  std::snprintf(head, sizeof(head), "%s %s.%06ld %s%s%s:%d] ", LevelName(level), ts,
                static_cast<long>(us), s.prefix.c_str(), s.prefix.empty() ? "" : " ", base, line);
  if (s.file != nullptr) {
    std::fprintf(s.file, "%s%s\n", head, msg.c_str());
    std::fflush(s.file);
  }
  if (level >= Level::kWarning || s.file == nullptr) {
    std::fprintf(stderr, "ferry %s%s\n", head, msg.c_str());
  }
}

int64_t RateLimiter::Admit() {
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  if (window_.exchange(now_s) != now_s) in_window_.store(0);
  if (in_window_.fetch_add(1) >= kBurst) {
    suppressed_.fetch_add(1);
    return -1;
  }
  return suppressed_.exchange(0);
}

LogMessage::~LogMessage() {
  Write(level_, file_, line_, os_.str());
  if (level_ == Level::kFatal) std::abort();
}

}  // namespace ferry::log
