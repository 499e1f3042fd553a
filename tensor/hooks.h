// Ordered hook tables with removable handles, shared by tensor gradient hooks and (in nn/) module
// forward hooks. Hooks run in registration order; a handle removes its hook even after the table
// was copied, and removing twice (or after the owner died) is a no-op.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace twig {

uint64_t next_hook_id();

class RemovableHandle {
 public:
  RemovableHandle() = default;
  RemovableHandle(std::function<void(uint64_t)> remover, uint64_t id) : remover_(std::move(remover)), id_(id) {}
  uint64_t id() const { return id_; }
  void remove() {
    if (remover_) {
      auto r = std::move(remover_);
      remover_ = nullptr;
      r(id_);
    }
  }

 private:
  std::function<void(uint64_t)> remover_;
  uint64_t id_ = 0;
};

template <typename Fn>
class HookDict {
 public:
  using Map = std::map<uint64_t, Fn>;

  RemovableHandle add(Fn fn) {
    uint64_t id = next_hook_id();
    (*map_)[id] = std::move(fn);
    std::weak_ptr<Map> weak = map_;
    return RemovableHandle(
        [weak](uint64_t key) {
          if (auto m = weak.lock()) m->erase(key);
        },
        id);
  }
  bool empty() const { return map_->empty(); }
  size_t size() const { return map_->size(); }
  // A snapshot, so a hook may remove itself (or others) while the table is being run.
  Map snapshot() const { return *map_; }
  Map& items() { return *map_; }
  const Map& items() const { return *map_; }
  void erase(uint64_t id) { map_->erase(id); }
  void clear() { map_->clear(); }

 private:
  std::shared_ptr<Map> map_ = std::make_shared<Map>();
};

}  // namespace twig
