// Logging: FERRY_LOG(INFO) << ...; one log file per rank in the session directory, warnings and
// errors also to stderr. FERRY_CHECK(cond) aborts on a broken invariant (never for input).
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace ferry::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4 };

// Parses "debug", "info", "warning", "error"; unknown text gives kWarning.
Level ParseLevel(std::string_view s);
void SetLevel(Level level);
Level GetLevel();
// Opens (appends to) the rank's log file; `prefix` is put in front of every line ("rank 3").
void SetSink(const std::string& path, const std::string& prefix);
void CloseSink();
void Write(Level level, const char* file, int line, const std::string& msg);

class LogMessage {
 public:
  LogMessage(Level level, const char* file, int line) : level_(level), file_(file), line_(line) {}
  ~LogMessage();
  std::ostringstream& stream() { return os_; }

 private:
  Level level_;
  const char* file_;
  int line_;
  std::ostringstream os_;
};

}  // namespace ferry::log

#define FERRY_LOG_LEVEL_DEBUG ::ferry::log::Level::kDebug
#define FERRY_LOG_LEVEL_INFO ::ferry::log::Level::kInfo
#define FERRY_LOG_LEVEL_WARNING ::ferry::log::Level::kWarning
#define FERRY_LOG_LEVEL_ERROR ::ferry::log::Level::kError
#define FERRY_LOG_LEVEL_FATAL ::ferry::log::Level::kFatal

namespace ferry::log {

// Lets at most `kBurst` lines per second through one call site and counts the rest, so that a
// peer flooding a rank with bad messages cannot flood its log. Thread-safe (approximate).
class RateLimiter {
 public:
  static constexpr int kBurst = 10;
  // -1: suppress this line; otherwise how many lines were suppressed before it.
  int64_t Admit();

 private:
  std::atomic<int64_t> window_{0};
  std::atomic<int> in_window_{0};
  std::atomic<int64_t> suppressed_{0};
};

// Turns a stream expression into void so the macros below are one expression (safe in an
// unbraced if/else).
struct Voidify {
  void operator&(std::ostream&) {}
};
}  // namespace ferry::log

#define FERRY_LOG(sev)                               \
  (FERRY_LOG_LEVEL_##sev < ::ferry::log::GetLevel()) \
      ? (void)0                                      \
      : ::ferry::log::Voidify() &                    \
            ::ferry::log::LogMessage(FERRY_LOG_LEVEL_##sev, __FILE__, __LINE__).stream()

// FERRY_LOG for messages a remote peer can trigger at will (malformed input).
#define FERRY_LOG_RATE_LIMITED(sev)                                                          \
  for (int64_t ferry_suppressed_ =                                                           \
           [] {                                                                              \
             static ::ferry::log::RateLimiter limiter;                                       \
             return limiter.Admit();                                                         \
           }();                                                                              \
       ferry_suppressed_ >= 0; ferry_suppressed_ = -1)                                       \
  FERRY_LOG(sev) << (ferry_suppressed_ > 0                                                   \
                         ? "(" + std::to_string(ferry_suppressed_) + " similar suppressed) " \
                         : std::string())

#define FERRY_CHECK(cond)                                                                         \
  (cond) ? (void)0                                                                                \
         : ::ferry::log::Voidify() &                                                              \
               ::ferry::log::LogMessage(::ferry::log::Level::kFatal, __FILE__, __LINE__).stream() \
                   << "check failed: " #cond " "
