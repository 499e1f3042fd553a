// An insertion-ordered map from names to values, as Python's dict: iteration follows insertion,
// lookup is by name, erase keeps the order of the rest. Used for parameters, buffers, children and
// state dicts.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "twig/tensor/error.h"

namespace twig::nn {

template <typename V>
class OrderedDict {
 public:
  using Item = std::pair<std::string, V>;

  OrderedDict() = default;
  OrderedDict(std::initializer_list<Item> items) {
    for (const auto& [k, v] : items) insert(k, v);
  }

  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  // Inserts, or replaces the value in place (keeping its position).
  V& insert(const std::string& key, V value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      items_[it->second].second = std::move(value);
      return items_[it->second].second;
    }
    index_[key] = items_.size();
    items_.emplace_back(key, std::move(value));
    return items_.back().second;
  }

  // KeyError naming the key when absent.
  V& at(const std::string& key) {
    auto it = index_.find(key);
    TWIG_CHECK(it != index_.end(), KeyError, "'", key, "'");
    return items_[it->second].second;
  }
  const V& at(const std::string& key) const {
    auto it = index_.find(key);
    TWIG_CHECK(it != index_.end(), KeyError, "'", key, "'");
    return items_[it->second].second;
  }
  const V* find(const std::string& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  V* find(const std::string& key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }

  // Removes and returns the value; KeyError when absent.
  V pop(const std::string& key) {
    auto it = index_.find(key);
    TWIG_CHECK(it != index_.end(), KeyError, "'", key, "'");
    size_t pos = it->second;
    V value = std::move(items_[pos].second);
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(pos));
    index_.erase(it);
    for (auto& [k, i] : index_) {
      if (i > pos) --i;
    }
    return value;
  }

  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const auto& item : items_) k.push_back(item.first);
    return k;
  }

  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  const std::vector<Item>& items() const { return items_; }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace twig::nn
