#pragma once

// Test helper: rewrites a model archive (a LibTorch zip) record by record.

#include <caffe2/serialize/inline_container.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace aimc::testing {

/// Copies a model archive through LibTorch's own zip writer, so that the zip stays valid (CRCs
/// included) while `edit` changes a record's bytes: the corruption reaches the reader behind the
/// zip layer.
inline void RewriteArchive(const std::filesystem::path& from, const std::filesystem::path& to,
                           const std::function<void(const std::string&, std::string&)>& edit) {
  caffe2::serialize::PyTorchStreamReader reader(from.string());
  caffe2::serialize::PyTorchStreamWriter writer(to.string());
  writer.setMinVersion(reader.version());
  for (const std::string& name : reader.getAllRecords()) {
    if (name == "version" || name == ".data/version") continue;  // the writer adds its own
    auto [data, size] = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(data.get()), size);
    edit(name, bytes);
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
}

/// The names of an archive's records ("data.pkl", "data/0", ...).
inline std::vector<std::string> ArchiveRecords(const std::filesystem::path& path) {
  caffe2::serialize::PyTorchStreamReader reader(path.string());
  return reader.getAllRecords();
}

}  // namespace aimc::testing
