#include "ferry/config.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace ferry {
namespace {

void Parse(const std::string& name, const std::string& s, int& out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < INT32_MIN || v > INT32_MAX)
    throw std::invalid_argument("ferry config: " + name + " expects an integer, got '" + s + "'");
  out = static_cast<int>(v);
}
void Parse(const std::string& name, const std::string& s, int64_t& out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0)
    throw std::invalid_argument("ferry config: " + name + " expects an integer, got '" + s + "'");
  out = v;
}
void Parse(const std::string& name, const std::string& s, double& out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !(v == v))
    throw std::invalid_argument("ferry config: " + name + " expects a number, got '" + s + "'");
  out = v;
}
void Parse(const std::string&, const std::string& s, std::string& out) { out = s; }

std::string Show(int v) { return std::to_string(v); }
std::string Show(int64_t v) { return std::to_string(v); }
std::string Show(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}
std::string Show(const std::string& v) { return v; }

std::string EnvName(std::string name) {
  std::string r = "FERRY_";
  for (char c : name) r += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace

void Config::Set(const std::string& name, const std::string& value) {
#define FERRY_CONFIG(type, n, def, help) \
  if (name == #n) {                      \
    Parse(#n, value, n);                 \
    return;                              \
  }
#include "ferry/internal/config_def.h"
#undef FERRY_CONFIG
  throw std::invalid_argument("ferry config: unknown setting '" + name + "'");
}

void Config::ApplyEnvironment() {
#define FERRY_CONFIG(type, n, def, help) \
  if (const char* v = std::getenv(EnvName(#n).c_str()); v != nullptr) Parse(EnvName(#n), v, n);
#include "ferry/internal/config_def.h"
#undef FERRY_CONFIG
}

void Config::ApplyFlags(int& argc, char**& argv) {
  if (argv == nullptr) return;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--ferry-", 0) != 0) {
      argv[out++] = argv[i];
      continue;
    }
    std::string body = arg.substr(8);
    std::string key, value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      key = body.substr(0, eq);
      value = body.substr(eq + 1);
    } else {
      if (i + 1 >= argc)
        throw std::invalid_argument("ferry config: flag " + arg + " needs a value");
      key = body;
      value = argv[++i];
    }
    for (char& c : key)
      if (c == '-') c = '_';
    Set(key, value);
  }
  argc = out;
  argv[argc] = nullptr;
}

std::vector<std::string> Config::Dump() const {
  std::vector<std::string> lines;
#define FERRY_CONFIG(type, n, def, help) \
  lines.push_back(std::string(#n) + " = " + Show(n) + "    # " + EnvName(#n) + ": " + help);
#include "ferry/internal/config_def.h"
#undef FERRY_CONFIG
  return lines;
}

}  // namespace ferry
