#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace aimc {

/// Content fingerprints for resume keys and manifests: 64-bit FNV-1a. It names contents (is this
/// the same model file, the same card?), it is not a defence against a deliberate collision.
std::uint64_t Fnv1a64(std::string_view bytes, std::uint64_t state = 14695981039346656037ull);

/// The fingerprint of bytes as 16 lowercase hex digits.
std::string HashHex(std::string_view bytes);

/// The fingerprint of a file's bytes as 16 hex digits; throws aimc::Error naming the file if it
/// cannot be read.
std::string HashFile(const std::filesystem::path& path);

}  // namespace aimc
