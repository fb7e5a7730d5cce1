// RefCapture (include/ferry/internal/runtime_hooks.h): a thread's stack of live captures. Here,
// below every component, so that the raylet can capture the refs inside task results.
#include "ferry/internal/runtime_hooks.h"

namespace ferry::internal {
namespace {
thread_local RefCapture* t_capture = nullptr;
}  // namespace

RefCapture::RefCapture() : previous_(t_capture) { t_capture = this; }
RefCapture::~RefCapture() { t_capture = previous_; }
RefCapture* RefCapture::Current() { return t_capture; }

}  // namespace ferry::internal
