// Where a tensor's storage lives. CPU always exists; CUDA devices are served by cuda/ when it is
// built, behind the same backend interface (tensor/backend.h). PrivateUse1 is PyTorch's slot for a
// backend that lives outside the tree ("privateuseone:N"); twig's tests register a fake one there.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace twig {

enum class DeviceType : int8_t { CPU = 0, CUDA = 1, PrivateUse1 = 2 };
constexpr int kNumDeviceTypes = 3;

class Device {
 public:
  Device() = default;
  Device(DeviceType type, int index = 0) : type_(type), index_(type == DeviceType::CPU ? 0 : index) {}
  // Parses "cpu", "cuda", "cuda:1", "privateuseone:0"; ValueError otherwise.
  explicit Device(const std::string& spec);

  static Device cpu() { return Device(DeviceType::CPU); }
  static Device cuda(int index = 0) { return Device(DeviceType::CUDA, index); }

  DeviceType type() const { return type_; }
  int index() const { return index_; }
  bool is_cpu() const { return type_ == DeviceType::CPU; }
  bool is_cuda() const { return type_ == DeviceType::CUDA; }
  std::string str() const;

  bool operator==(const Device& o) const { return type_ == o.type_ && index_ == o.index_; }
  bool operator!=(const Device& o) const { return !(*this == o); }

 private:
  DeviceType type_ = DeviceType::CPU;
  int index_ = 0;
};

constexpr DeviceType kCPU = DeviceType::CPU;
constexpr DeviceType kCUDA = DeviceType::CUDA;

std::ostream& operator<<(std::ostream& os, const Device& d);

}  // namespace twig
