#include "launch/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace ferry::launch {
namespace {

Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return UnavailableError("cannot write " + tmp + ": " + std::strerror(errno));
  fchmod(fd, mode);  // whatever the umask made of it
  const std::string line = text + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    ::unlink(tmp.c_str());
    return UnavailableError("cannot write " + tmp + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return UnavailableError("cannot rename " + tmp + " to " + path + ": " + std::strerror(e));
  }
  return Status::Ok();
}

// The file's first line, or NotFound.
Result<std::string> ReadLine(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError(path + ": " + std::strerror(errno));
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

std::string SessionName(const std::string& id, const EnvLookup& env) {
  const std::string user = "ferry-" + std::to_string(getuid());
  const char* job = env("SLURM_JOB_ID");
  if (job == nullptr || *job == '\0') return user + "-" + id;
  const char* step = env("SLURM_STEP_ID");
  if (step == nullptr || *step == '\0') return user + "-slurm-" + job + "-" + id;
  return user + "-slurm-" + job + "." + step;
}

std::string DefaultSessionDir(const std::string& name, const EnvLookup& env) {
  const char* tmp = env("TMPDIR");
  return std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + name;
}

std::string NewToken() {
  std::random_device rd;  // the system's random source
  std::ostringstream out;
  for (int i = 0; i < 4; ++i) {
    char buf[9];
    std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(rd()));
    out << buf;
  }
  return out.str();
}

Status WriteSessionFiles(const std::string& dir, const std::string& head,
                         const std::string& token) {
  FERRY_RETURN_IF_ERROR(WriteFile(dir + "/token", token, 0600));
  return WriteFile(dir + "/head", head, 0644);
}

Result<SessionFiles> ReadSessionFiles(const std::string& dir, bool need_token) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return NotFoundError("session directory " + dir + " does not exist");
  SessionFiles out;
  auto head = ReadLine(dir + "/head");
  if (!head.ok())
    return NotFoundError("session directory " + dir +
                         " has no head file (is the cluster running, and does its head "
                         "accept joins?): " + head.status().message());
  out.head = *head;
  if (out.head.find(':') == std::string::npos)
    return DataLossError(dir + "/head: expected host:port, found '" + out.head + "'");
  const std::string token_path = dir + "/token";
  if (::stat(token_path.c_str(), &st) != 0) {
    if (need_token) return NotFoundError(token_path + " does not exist (set FERRY_TOKEN)");
    return out;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return FailedPreconditionError(token_path + " may be read by others (mode " + mode +
                                   ", must be 0600): not using it");
  }
  auto token = ReadLine(token_path);
  if (!token.ok()) return token.status();
  out.token = *token;
  return out;
}

}  // namespace ferry::launch
