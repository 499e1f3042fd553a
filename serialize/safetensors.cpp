#include "twig/serialize/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "twig/autograd/ops/ops.h"
#include "twig/serialize/detail.h"
#include "twig/tensor/shape.h"

static_assert(std::endian::native == std::endian::little,
              "serialize/ writes the tensors' bytes as they are in memory; safetensors is little-endian");

namespace twig::serialize {

using ordered_json = nlohmann::ordered_json;

// ---- dtype names --------------------------------------------------------------------------------

const char* safetensors_dtype_name(Dtype dtype) {
  switch (dtype) {
    case kBool:
      return "BOOL";
    case kUInt8:
      return "U8";
    case kInt32:
      return "I32";
    case kInt64:
      return "I64";
    case kFloat32:
      return "F32";
    case kFloat64:
      return "F64";
  }
  TWIG_THROW(ValueError, "no safetensors name for dtype ", static_cast<int>(dtype));
}

Dtype dtype_from_safetensors_name(const std::string& name) {
  for (Dtype d : {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64}) {
    if (name == safetensors_dtype_name(d)) return d;
  }
  static const std::set<std::string> known_elsewhere = {"F16", "BF16", "I8",      "I16",    "U16",
                                                        "U32", "U64",  "F8_E4M3", "F8_E5M2"};
  TWIG_CHECK(!known_elsewhere.count(name), ValueError, "dtype '", name,
             "' is valid safetensors but twig has no such dtype (it reads BOOL, U8, I32, I64, F32, F64)");
  TWIG_THROW(ValueError, "unknown dtype '", name, "' (twig reads BOOL, U8, I32, I64, F32, F64)");
}

// ---- JSON and UTF-8 helpers ----------------------------------------------------------------------

namespace detail {

size_t invalid_utf8_at(const char* s, size_t n) {
  const auto* u = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    unsigned char c = u[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((u[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (u[i + k] & 0x3F);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return i;
    i += len;
  }
  return std::string::npos;
}

ordered_json parse_json_strict(const char* begin, const char* end, const char* what) {
  size_t bad = invalid_utf8_at(begin, static_cast<size_t>(end - begin));
  TWIG_CHECK(bad == std::string::npos, ValueError, what, " is not valid UTF-8 (bad byte ",
             static_cast<int>(static_cast<unsigned char>(begin[bad])), " at offset ", bad, ")");
  // One set of seen keys per open object, so {"a": 1, "a": 2} is an error, not a silent overwrite.
  std::vector<std::set<std::string>> seen;
  auto callback = [&](int, nlohmann::detail::parse_event_t event, ordered_json& parsed) {
    using E = nlohmann::detail::parse_event_t;
    if (event == E::object_start) {
      seen.emplace_back();
    } else if (event == E::object_end) {
      if (!seen.empty()) seen.pop_back();
    } else if (event == E::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      TWIG_CHECK(!seen.empty() && seen.back().insert(key).second, ValueError, what, " has the name '", key,
                 "' twice in one object");
    }
    return true;
  };
  try {
    return ordered_json::parse(begin, end, callback);
  } catch (const nlohmann::json::exception& e) {
    TWIG_THROW(ValueError, what, " is not valid JSON: ", e.what());
  }
}

const char* json_kind(const ordered_json& j) { return j.type_name(); }

}  // namespace detail

namespace {

// ---- the header ---------------------------------------------------------------------------------

struct Entry {
  std::string name;
  Dtype dtype;
  Shape shape;
  uint64_t begin, end;  // in the data section
};

struct Parsed {
  std::vector<Entry> entries;  // sorted by data offset
  Metadata metadata;
  uint64_t data_start = 0;  // 8 + header length
};

std::string offsets_str(const Entry& e) { return ::twig::detail::str_cat("[", e.begin, ", ", e.end, "]"); }

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t as_count(const ordered_json& j, const std::string& tensor, const char* field) {
  TWIG_CHECK(j.is_number_integer(), ValueError, "tensor '", tensor, "': ", field,
             " must hold non-negative integers, got ", j.dump());
  TWIG_CHECK(j.is_number_unsigned(), ValueError, "tensor '", tensor, "': ", field, " holds a negative value ",
             j.get<int64_t>());
  return j.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const ordered_json& j) {
  TWIG_CHECK(j.is_object(), ValueError, "tensor '", name, "' must be an object, got ", detail::json_kind(j));
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    TWIG_CHECK(j.contains(field), ValueError, "tensor '", name, "' has no '", field, "'");
  }
  for (const auto& [key, value] : j.items()) {
    TWIG_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", ValueError, "tensor '", name,
               "' has an unexpected field '", key, "'");
  }
  Entry e;
  e.name = name;
  const ordered_json& dtype = j["dtype"];
  TWIG_CHECK(dtype.is_string(), ValueError, "tensor '", name, "': dtype must be a string, got ", dtype.dump());
  try {
    e.dtype = dtype_from_safetensors_name(dtype.get<std::string>());
  } catch (const ValueError& err) {
    TWIG_THROW(ValueError, "tensor '", name, "': ", err.what());
  }
  const ordered_json& shape = j["shape"];
  TWIG_CHECK(shape.is_array(), ValueError, "tensor '", name, "': shape must be an array, got ", shape.dump());
  uint64_t numel = 1;
  bool overflow = false, has_zero = false;
  for (const auto& d : shape) {
    uint64_t size = as_count(d, name, "shape");
    TWIG_CHECK(size <= static_cast<uint64_t>(INT64_MAX), ValueError, "tensor '", name, "': shape entry ", size,
               " is too large");
    has_zero = has_zero || size == 0;
    overflow = overflow || __builtin_mul_overflow(numel, size, &numel);
    e.shape.push_back(static_cast<int64_t>(size));
  }
  uint64_t nbytes = 0;
  if (has_zero) {
    numel = 0;  // a zero anywhere makes the count 0, whatever the other sizes
    overflow = false;
  }
  overflow =
      overflow || numel > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, itemsize(e.dtype), &nbytes);
  TWIG_CHECK(!overflow, ValueError, "tensor '", name, "': shape ", e.shape, " has an element count that overflows");
  const ordered_json& offsets = j["data_offsets"];
  TWIG_CHECK(offsets.is_array() && offsets.size() == 2, ValueError, "tensor '", name,
             "': data_offsets must be [begin, end], got ", offsets.dump());
  e.begin = as_count(offsets[0], name, "data_offsets");
  e.end = as_count(offsets[1], name, "data_offsets");
  TWIG_CHECK(e.begin <= e.end, ValueError, "tensor '", name, "': data_offsets ", offsets_str(e),
             " are out of order (begin > end)");
  TWIG_CHECK(e.end - e.begin == nbytes, ValueError, "tensor '", name, "': data_offsets ", offsets_str(e), " span ",
             e.end - e.begin, " bytes but ", safetensors_dtype_name(e.dtype), " x ", e.shape, " needs ", nbytes);
  return e;
}

Parsed parse_file(const unsigned char* data, size_t size) {
  TWIG_CHECK(size >= 8, ValueError, "file too short for safetensors: ", size,
             " bytes, but the header length alone takes 8");
  const uint64_t n = read_u64_le(data);
  TWIG_CHECK(n <= kMaxHeaderBytes, ValueError, "header length ", n, " is over the cap of ", kMaxHeaderBytes, " bytes");
  TWIG_CHECK(n <= size - 8, ValueError, "header length ", n, " runs past the end of the file (", size - 8,
             " bytes follow the length)");
  const char* text = reinterpret_cast<const char*>(data + 8);
  ordered_json header = detail::parse_json_strict(text, text + n, "header");
  TWIG_CHECK(header.is_object(), ValueError, "header must be a JSON object, got ", detail::json_kind(header));

  Parsed out;
  out.data_start = 8 + n;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      TWIG_CHECK(value.is_object(), ValueError, "__metadata__ must be an object of strings, got ",
                 detail::json_kind(value));
      for (const auto& [mk, mv] : value.items()) {
        TWIG_CHECK(mv.is_string(), ValueError, "__metadata__ value of '", mk, "' must be a string, got ",
                   detail::json_kind(mv));
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    out.entries.push_back(parse_entry(key, value));
  }
  std::stable_sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t data_len = size - out.data_start;
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : out.entries) {
    TWIG_CHECK(e.begin >= expected, ValueError, "tensor '", e.name, "': data_offsets ", offsets_str(e),
               " overlap tensor '", previous ? previous->name : "", "' at ", previous ? offsets_str(*previous) : "");
    TWIG_CHECK(e.begin == expected, ValueError, "hole in the data: bytes [", expected, ", ", e.begin,
               ") before tensor '", e.name, "' belong to no tensor");
    TWIG_CHECK(e.end <= data_len, ValueError, "tensor '", e.name, "': data_offsets ", offsets_str(e),
               " run past the end of the file (the data section has ", data_len, " bytes)");
    expected = e.end;
    previous = &e;
  }
  TWIG_CHECK(expected == data_len, ValueError, data_len - expected,
             " bytes after the last tensor belong to no tensor (the data section has ", data_len,
             " bytes, the tensors end at ", expected, ")");
  return out;
}

void check_bool_bytes(const Entry& e, const unsigned char* p) {
  for (uint64_t i = 0; i < e.end - e.begin; ++i) {
    TWIG_CHECK(p[i] <= 1, ValueError, "tensor '", e.name, "' (BOOL) holds byte ", static_cast<int>(p[i]),
               " at element ", i, "; BOOL bytes must be 0 or 1");
  }
}

Tensor copy_out(const Entry& e, const unsigned char* p) {
  Tensor t = empty(e.shape, e.dtype);
  if (e.end > e.begin) std::memcpy(t.raw_data_ptr(), p, e.end - e.begin);
  return t;
}

// ---- saving ----------------------------------------------------------------------------------

struct Prepared {
  std::string header;        // length prefix + JSON + padding
  std::vector<Tensor> keep;  // contiguous CPU copies where needed, alive while writing
  std::vector<std::pair<const void*, size_t>> chunks;
};

// A sparse COO tensor "<name>" is stored as two plain tensors, "<name>.indices" (I64, (sparse_dim,
// nnz)) and "<name>.values", and described under the metadata key kSparseKey: a JSON object
// {"<name>": {"layout": "sparse_coo", "size": [...], "coalesced": true}} in a string. Readers that
// know nothing of it (NumPy) still see two ordinary arrays.
constexpr const char* kSparseKey = "twig.sparse";

std::string part_name(const std::string& name, const char* part) { return name + "." + part; }

// The tensors as written: each sparse tensor replaced by its two parts, in place; the description
// goes to *sparse (ValueError on a name clash or a user metadata key that takes kSparseKey).
nn::StateDict expand_sparse(const nn::StateDict& tensors, const Metadata& metadata, std::string* sparse) {
  ordered_json described = ordered_json::object();
  nn::StateDict out;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined() || !tensor.is_sparse()) {
      TWIG_CHECK(out.find(name) == nullptr, ValueError, "tensor '", name,
                 "' clashes with a part of the sparse tensor '", name.substr(0, name.rfind('.')), "'");
      out.insert(name, tensor);
      continue;
    }
    for (const char* part : {"indices", "values"}) {
      const std::string key = part_name(name, part);
      TWIG_CHECK(tensors.find(key) == nullptr && out.find(key) == nullptr, ValueError, "sparse tensor '", name,
                 "' is stored as '", key, "', but a tensor of that name is saved too");
    }
    out.insert(part_name(name, "indices"), tensor._indices());
    out.insert(part_name(name, "values"), tensor._values());
    ordered_json d = ordered_json::object();
    d["layout"] = "sparse_coo";
    d["size"] = tensor.sizes();
    d["coalesced"] = tensor.is_coalesced();
    described[name] = std::move(d);
  }
  if (!described.empty()) {
    TWIG_CHECK(!metadata.count(kSparseKey), ValueError, "metadata key '", kSparseKey,
               "' is reserved for the sparse tensors of the file");
    *sparse = described.dump();
  }
  return out;
}

Prepared prepare(const nn::StateDict& given, const Metadata& given_metadata) {
  Prepared out;
  std::string sparse;
  nn::StateDict tensors = expand_sparse(given, given_metadata, &sparse);
  Metadata with_sparse;
  if (!sparse.empty()) {
    with_sparse = given_metadata;
    with_sparse[kSparseKey] = sparse;
  }
  const Metadata& metadata = sparse.empty() ? given_metadata : with_sparse;
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json meta = ordered_json::object();
    for (const auto& [k, v] : metadata) {
      TWIG_CHECK(detail::invalid_utf8_at(k.data(), k.size()) == std::string::npos &&
                     detail::invalid_utf8_at(v.data(), v.size()) == std::string::npos,
                 ValueError, "metadata key '", k, "' or its value is not valid UTF-8");
      meta[k] = v;
    }
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    TWIG_CHECK(name != "__metadata__", ValueError, "a tensor cannot be named \"__metadata__\" (the key is reserved)");
    TWIG_CHECK(detail::invalid_utf8_at(name.data(), name.size()) == std::string::npos, ValueError,
               "tensor name is not valid UTF-8: '", name, "'");
    TWIG_CHECK(tensor.defined(), ValueError, "tensor '", name, "' is undefined (None) and cannot be saved");
    Tensor t = tensor.detach();
    if (t.device() != Device::cpu()) t = t.cpu();
    if (!t.is_contiguous()) t = t.contiguous();
    const size_t nbytes = t.nbytes();
    ordered_json entry = ordered_json::object();
    entry["dtype"] = safetensors_dtype_name(t.dtype());
    entry["shape"] = t.sizes();
    entry["data_offsets"] = {offset, offset + nbytes};
    header[name] = std::move(entry);
    offset += nbytes;
    if (nbytes > 0) out.chunks.emplace_back(t.raw_data_ptr(), nbytes);
    out.keep.push_back(std::move(t));
  }
  std::string json = header.dump();
  while (json.size() % 8 != 0) json.push_back(' ');
  out.header.resize(8);
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.header[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out.header += json;
  return out;
}

// ---- sparse tensors on load --------------------------------------------------------------------

// One sparse tensor from its parts, checked as sparse_coo_tensor checks (ValueError naming it).
Tensor rebuild_one(const std::string& name, const ordered_json& d, const Tensor& indices, const Tensor& values) {
  return detail::with_context("sparse tensor '" + name + "': ", [&] {
    TWIG_CHECK(d.is_object(), ValueError, "its description must be an object, got ", d.dump());
    TWIG_CHECK(d.contains("layout") && d["layout"] == "sparse_coo", ValueError, "layout must be \"sparse_coo\", got ",
               d.contains("layout") ? d["layout"].dump() : "nothing");
    TWIG_CHECK(d.contains("size") && d["size"].is_array(), ValueError, "size must be an array, got ",
               d.contains("size") ? d["size"].dump() : "nothing");
    Shape size;
    for (const auto& s : d["size"]) {
      TWIG_CHECK(s.is_number_unsigned(), ValueError, "size must hold non-negative integers, got ", d["size"].dump());
      size.push_back(s.get<int64_t>());
    }
    const bool coalesced = d.contains("coalesced") && d["coalesced"].is_boolean() && d["coalesced"].get<bool>();
    TWIG_CHECK(indices.dtype() == kInt64, ValueError, "indices must be I64, got ",
               safetensors_dtype_name(indices.dtype()));
    Tensor t;
    try {
      t = sparse_coo_tensor(indices, values, size);
    } catch (const RuntimeError& e) {
      TWIG_THROW(ValueError, e.what());
    }
    if (!coalesced || t.is_coalesced()) return t;
    Tensor c = t.coalesce();
    TWIG_CHECK(c._nnz() == t._nnz() && equal(c._indices(), indices), ValueError,
               "marked coalesced, but its indices are not sorted and unique");
    return c;
  });
}

// Replaces the parts of each sparse tensor the metadata describes by the tensor, where its first part
// was, and drops the description from the metadata.
void rebuild_sparse(SafetensorsFile& file) {
  auto it = file.metadata.find(kSparseKey);
  if (it == file.metadata.end()) return;
  const std::string what = std::string("__metadata__ entry '") + kSparseKey + "'";
  ordered_json described =
      detail::parse_json_strict(it->second.data(), it->second.data() + it->second.size(), what.c_str());
  TWIG_CHECK(described.is_object(), ValueError, "__metadata__ entry '", kSparseKey, "' must be a JSON object, got ",
             detail::json_kind(described));
  std::map<std::string, std::string> part_of;  // part name -> sparse name
  for (const auto& [name, d] : described.items()) {
    TWIG_CHECK(file.tensors.find(name) == nullptr, ValueError, "sparse tensor '", name,
               "' clashes with a plain tensor of the same name in the file");
    for (const char* part : {"indices", "values"}) {
      const std::string key = part_name(name, part);
      TWIG_CHECK(file.tensors.find(key) != nullptr, ValueError, "sparse tensor '", name, "': its part '", key,
                 "' is missing from the file");
      part_of[key] = name;
    }
  }
  nn::StateDict out;
  for (const auto& [key, tensor] : file.tensors) {
    auto p = part_of.find(key);
    if (p == part_of.end()) {
      out.insert(key, tensor);
      continue;
    }
    const std::string& name = p->second;
    if (out.find(name) != nullptr) continue;
    out.insert(name, rebuild_one(name, described[name], file.tensors.at(part_name(name, "indices")),
                                 file.tensors.at(part_name(name, "values"))));
  }
  file.tensors = std::move(out);
  file.metadata.erase(kSparseKey);
}

// ---- files ----------------------------------------------------------------------------------------

std::atomic<int64_t> g_fail_after{-1};
std::atomic<uint64_t> g_temp_counter{0};

std::string os_error(int err) { return std::strerror(err); }

// Writes all n bytes (partial writes and EINTR retried); false with errno set on failure.
bool write_all(int fd, const void* data, size_t n, int64_t& budget) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    size_t chunk = std::min<size_t>(n, size_t{1} << 30);
    bool inject = false;
    if (budget >= 0 && static_cast<uint64_t>(budget) < chunk) {
      chunk = static_cast<size_t>(budget);
      inject = true;
    }
    if (chunk > 0) {
      ssize_t w = ::write(fd, p, chunk);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
      if (budget >= 0) budget -= w;
    }
    if (inject) {
      errno = ENOSPC;
      return false;
    }
  }
  return true;
}

struct Mapping {
  void* addr = nullptr;
  size_t len = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, len);
  }
};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

namespace detail {

void fail_writes_after(int64_t bytes) { g_fail_after = bytes; }

void write_file_atomically(const std::string& path, const std::string& header,
                           const std::vector<std::pair<const void*, size_t>>& chunks, bool durable) {
  TWIG_CHECK(!path.empty(), ValueError, "save: empty path");
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  TWIG_CHECK(!base.empty(), ValueError, "save: '", path, "' names a folder, not a file");
  const std::string tmp =
      dir + "/." + base + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_temp_counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  TWIG_CHECK(fd >= 0, RuntimeError, "cannot save '", path, "': cannot create the temporary file '", tmp,
             "': ", os_error(errno));
  auto fail = [&](const char* step) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    TWIG_THROW(RuntimeError, "cannot save '", path, "': ", step, " failed: ", os_error(err),
               " (the previous file, if any, is unchanged)");
  };
  int64_t budget = g_fail_after.load();
  if (!write_all(fd, header.data(), header.size(), budget)) fail("write");
  for (const auto& [data, n] : chunks) {
    if (!write_all(fd, data, n, budget)) fail("write");
  }
  if (durable && ::fsync(fd) != 0) fail("fsync");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
  // Make the rename itself durable; the new file is in place either way, so this is best effort.
  int dfd = durable ? ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace detail

// ---- public API -------------------------------------------------------------------------------------

std::string to_safetensors_bytes(const nn::StateDict& tensors, const Metadata& metadata) {
  Prepared p = prepare(tensors, metadata);
  std::string out = std::move(p.header);
  for (const auto& [data, n] : p.chunks) out.append(static_cast<const char*>(data), n);
  return out;
}

void save_state_dict(const nn::StateDict& tensors, const std::string& path, const Metadata& metadata,
                     const SaveOptions& options) {
  Prepared p = prepare(tensors, metadata);
  detail::write_file_atomically(path, p.header, p.chunks, options.fsync);
}

void save_state_dict(const nn::Module& module, const std::string& path, const Metadata& metadata,
                     const SaveOptions& options) {
  save_state_dict(module.state_dict(), path, metadata, options);
}

SafetensorsFile from_safetensors_bytes(const void* data, size_t size) {
  TWIG_CHECK(data != nullptr || size == 0, ValueError, "from_safetensors_bytes: null data");
  const auto* bytes = static_cast<const unsigned char*>(data);
  Parsed parsed = parse_file(bytes, size);
  SafetensorsFile out;
  out.metadata = std::move(parsed.metadata);
  for (const Entry& e : parsed.entries) {
    const unsigned char* p = bytes + parsed.data_start + e.begin;
    if (e.dtype == kBool) check_bool_bytes(e, p);
    out.tensors.insert(e.name, copy_out(e, p));
  }
  rebuild_sparse(out);
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  Fd fd;
  fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TWIG_CHECK(fd.fd >= 0, RuntimeError, "cannot open '", path, "': ", os_error(errno));
  struct stat st {};
  TWIG_CHECK(::fstat(fd.fd, &st) == 0, RuntimeError, "cannot stat '", path, "': ", os_error(errno));
  TWIG_CHECK(S_ISREG(st.st_mode), RuntimeError, "cannot load '", path, "': not a regular file");
  const size_t size = static_cast<size_t>(st.st_size);
  return detail::with_context("'" + path + "': ", [&] {
    TWIG_CHECK(size >= 8, ValueError, "file too short for safetensors: ", size,
               " bytes, but the header length alone takes 8");
    auto mapping = std::make_shared<Mapping>();
    // Private and writable: writes to a loaded tensor copy the page, never reach the file.
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
    TWIG_CHECK(addr != MAP_FAILED, RuntimeError, "cannot map the file: ", os_error(errno));
    mapping->addr = addr;
    mapping->len = size;
    auto* bytes = static_cast<unsigned char*>(addr);
    Parsed parsed = parse_file(bytes, size);
    SafetensorsFile out;
    out.metadata = std::move(parsed.metadata);
    for (const Entry& e : parsed.entries) {
      unsigned char* p = bytes + parsed.data_start + e.begin;
      if (e.dtype == kBool) check_bool_bytes(e, p);
      const size_t nbytes = e.end - e.begin;
      if (nbytes == 0 || reinterpret_cast<uintptr_t>(p) % itemsize(e.dtype) != 0) {
        out.tensors.insert(e.name, copy_out(e, p));
        continue;
      }
      auto impl = std::make_shared<TensorImpl>();
      impl->storage = std::make_shared<StorageImpl>(p, nbytes, Device::cpu(), [mapping](void*) {});
      impl->sizes = e.shape;
      impl->strides = contiguous_strides(e.shape);
      impl->dtype = e.dtype;
      out.tensors.insert(e.name, Tensor(std::move(impl)));
    }
    rebuild_sparse(out);
    return out;
  });
}

nn::StateDict load_state_dict_file(const std::string& path) { return load_safetensors(path).tensors; }

nn::IncompatibleKeys load_state_dict_file(nn::Module& module, const std::string& path, bool strict) {
  return module.load_state_dict(load_state_dict_file(path), strict);
}

}  // namespace twig::serialize
