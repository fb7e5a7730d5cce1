// Sessions: where one cluster keeps its files on each host. Every rank writes into its host's
// session directory its log, and the two files a process of the same job needs to join the
// cluster later: `head` (host:port of the head's join listener) and `token` (a random secret,
// mode 0600, that the head asks every joiner for). No fixed names or ports: two clusters on
// one host, of one user or several, never share a directory. Thread-compatible.
#pragma once

#include <string>

#include "launch/bootstrap_choice.h"  // EnvLookup
#include "src/common/status.h"

namespace ferry::launch {

// The directory's name for a cluster whose session id is `id`: ferry-<uid>-slurm-<job>.<step>
// inside a Slurm job step (so that it can be found from squeue), ferry-<uid>-slurm-<job>-<id>
// in a job outside a step (a batch script may run several), else ferry-<uid>-<id>.
std::string SessionName(const std::string& id, const EnvLookup& env);
// The default session directory: `name` under $TMPDIR, or /tmp.
std::string DefaultSessionDir(const std::string& name, const EnvLookup& env);

// A fresh random token (32 hex digits from the system's random source).
std::string NewToken();

// Writes `head` and `token` into `dir` (each written whole, then renamed into place).
Status WriteSessionFiles(const std::string& dir, const std::string& head,
                         const std::string& token);

struct SessionFiles {
  std::string head;   // host:port
  std::string token;  // empty when the file is not there and `need_token` was false
};
// Reads what WriteSessionFiles wrote. A missing head file, a token file that others may read,
// or a malformed entry is an error naming the file.
Result<SessionFiles> ReadSessionFiles(const std::string& dir, bool need_token);

}  // namespace ferry::launch
