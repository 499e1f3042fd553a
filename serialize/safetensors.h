// State dicts as safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
//   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string>", ...}}
// padded with spaces to a multiple of 8, then the tensors' raw little-endian row-major bytes,
// offsets relative to the end of the header, contiguous from 0 with no holes. Any safetensors
// reader (Python's `safetensors`, a few lines of NumPy) reads twig's files and twig reads theirs.
//
// Loading validates everything before touching the data and never reads outside the file; every
// malformed file gets a typed error naming the problem (ValueError for malformed content,
// RuntimeError for I/O). Saving is atomic: a temporary file in the same folder, fsync, rename, so a
// failed save leaves the previous file byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "twig/nn/module.h"

namespace twig::serialize {

using Metadata = std::map<std::string, std::string>;

// The largest header accepted on load (safetensors' own cap).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// A file's tensors in data order (the order they were saved in) and its "__metadata__".
struct SafetensorsFile {
  nn::StateDict tensors;
  Metadata metadata;
};

// ---- saving (atomic) ------------------------------------------------------------------------
struct SaveOptions {
  // fsync the file (and its folder) before and after the rename, so the new file survives a power
  // cut. Off, a crash of the process still leaves the old or the new file whole (write + rename),
  // but the OS may lose the new one; torch.save and safetensors' save_file do not fsync.
  bool fsync = true;
};
// module.state_dict() (parameters and persistent buffers, dotted names).
void save_state_dict(const nn::Module& module, const std::string& path, const Metadata& metadata = {},
                     const SaveOptions& options = {});
// Any named tensors; non-contiguous ones are packed, CUDA ones copied to the CPU. ValueError for an
// undefined tensor, a name that is not UTF-8 or is "__metadata__". A sparse COO tensor "<name>" is
// written as two plain tensors "<name>.indices" (I64) and "<name>.values" plus its size, layout and
// coalesced flag in __metadata__["twig.sparse"] (a JSON string); loading gives the sparse tensor back
// under "<name>" (ValueError naming it for a name clash, a missing part, or parts that do not fit).
void save_state_dict(const nn::StateDict& tensors, const std::string& path, const Metadata& metadata = {},
                     const SaveOptions& options = {});

// ---- loading ----------------------------------------------------------------------------------
// The file is memory-mapped (copy-on-write) and each suitably aligned tensor is a view of the
// mapping that keeps it alive: no copy at all until a tensor is written. A tensor whose bytes are
// not aligned for its dtype (files from writers that do not pad) is copied once.
SafetensorsFile load_safetensors(const std::string& path);
// Just the tensors.
nn::StateDict load_state_dict_file(const std::string& path);
// Reads the file, then module.load_state_dict (which validates everything before copying, so a
// failing load leaves the module as it was).
nn::IncompatibleKeys load_state_dict_file(nn::Module& module, const std::string& path, bool strict = true);

// ---- in memory ---------------------------------------------------------------------------------
// The exact bytes save_state_dict writes.
std::string to_safetensors_bytes(const nn::StateDict& tensors, const Metadata& metadata = {});
// Parses and validates `size` bytes at `data`; the tensors are copies (data may go away).
SafetensorsFile from_safetensors_bytes(const void* data, size_t size);

// ---- names --------------------------------------------------------------------------------------
// "F32", "I64", "BOOL", ... as safetensors spells them; ValueError for a name twig cannot hold.
const char* safetensors_dtype_name(Dtype dtype);
Dtype dtype_from_safetensors_name(const std::string& name);

namespace detail {
// Writes bytes to `path` atomically (temporary file in the same folder, fsync, rename, fsync of
// the folder). RuntimeError naming the path and the OS error on failure; the temporary is removed.
void write_file_atomically(const std::string& path, const std::string& header,
                           const std::vector<std::pair<const void*, size_t>>& chunks, bool fsync = true);
// Test hook: the next saves fail with ENOSPC once `bytes` bytes were written (-1: never).
void fail_writes_after(int64_t bytes);
}  // namespace detail

}  // namespace twig::serialize
