#pragma once

// Assembly of symmetric sparse matrices straight from a stream of entries, in two passes (count,
// then fill) and without a triplet list: at 1024 x 1024 a triplet list and its sorted copy take
// several hundred MB, and fresh memory is what costs most (page faults) once the arithmetic is
// fast.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "nodal.h"
#include "page_buffer.h"

namespace aimc::circuit::internal {

/// Compressed columns of a lower triangle: the rows of column k are row[ptr[k] .. ptr[k + 1]),
/// ascending, each once.
struct LowerColumns {
  PageVector<std::int64_t> ptr;
  PageVector<std::int64_t> row;
  PageVector<double> value;
};

/// The lower triangle of the symmetric matrix whose entries `for_each_entry(emit)` passes as
/// emit(a, b, value) (an off-diagonal pair once, in either order), renumbered by `position`
/// (position[a]; null: as numbered), keeping columns < `keep`.
/// Duplicates are summed in the order given, so the values depend on nothing else.
template <typename ForEachEntry>
LowerColumns AssembleLower(std::int64_t keep, const std::int64_t* position,
                           ForEachEntry&& for_each_entry) {
  const auto at = [position](std::int64_t a) { return position == nullptr ? a : position[a]; };
  LowerColumns out;
  out.ptr.assign(std::size_t(keep) + 1, 0);
  for_each_entry([&](std::int64_t a, std::int64_t b, double) {
    const std::int64_t col = std::min(at(a), at(b));
    if (col < keep) ++out.ptr[std::size_t(col) + 1];
  });
  for (std::int64_t k = 0; k < keep; ++k) out.ptr[std::size_t(k) + 1] += out.ptr[std::size_t(k)];
  PageVector<std::int64_t> next(out.ptr.begin(), out.ptr.end() - 1);
  out.row.resize(std::size_t(out.ptr.back()));
  out.value.resize(std::size_t(out.ptr.back()));
  for_each_entry([&](std::int64_t a, std::int64_t b, double value) {
    const std::int64_t pa = at(a);
    const std::int64_t pb = at(b);
    const std::int64_t col = std::min(pa, pb);
    if (col >= keep) return;
    const std::int64_t slot = next[std::size_t(col)]++;
    out.row[std::size_t(slot)] = std::max(pa, pb);
    out.value[std::size_t(slot)] = value;
  });
  // Sort each column by row (stable: equal rows keep the order given) and sum duplicates. Most
  // columns hold a handful of entries: insertion sort in place; long ones (a line merged into one
  // node) through a buffer.
  std::vector<std::pair<std::int64_t, double>> buffer;
  std::int64_t kept = 0;
  for (std::int64_t k = 0; k < keep; ++k) {
    const std::int64_t begin = out.ptr[std::size_t(k)];
    const std::int64_t end = out.ptr[std::size_t(k) + 1];
    std::int64_t* row = out.row.data();
    double* value = out.value.data();
    if (end - begin <= 32) {
      for (std::int64_t e = begin + 1; e < end; ++e) {
        const std::int64_t r = row[e];
        const double v = value[e];
        std::int64_t at = e;
        for (; at > begin && row[at - 1] > r; --at) {
          row[at] = row[at - 1];
          value[at] = value[at - 1];
        }
        row[at] = r;
        value[at] = v;
      }
    } else {
      buffer.clear();
      for (std::int64_t e = begin; e < end; ++e) buffer.emplace_back(row[e], value[e]);
      std::stable_sort(buffer.begin(), buffer.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      for (std::int64_t e = begin; e < end; ++e) {
        row[e] = buffer[std::size_t(e - begin)].first;
        value[e] = buffer[std::size_t(e - begin)].second;
      }
    }
    out.ptr[std::size_t(k)] = kept;
    for (std::int64_t e = begin; e < end; ++e) {
      if (e > begin && row[e] == row[e - 1]) {
        value[kept - 1] += value[e];
        continue;
      }
      row[kept] = row[e];
      value[kept] = value[e];
      ++kept;
    }
  }
  out.ptr[std::size_t(keep)] = kept;
  out.row.resize(std::size_t(kept));
  out.value.resize(std::size_t(kept));
  return out;
}

/// Where each entry `for_each_entry(emit)` passes lands in `pattern` (built by AssembleLower
/// from the same stream with the same `position` and `keep`): its index in pattern.row, in the
/// order the entries come, kNoSlot for one in a dropped column. With these, an array of the same
/// pattern is assembled by value[slot[e]] += value of entry e, summed in the order given: the
/// same values as AssembleLower's, without a search per entry.
inline constexpr std::uint32_t kNoSlot = ~std::uint32_t(0);

template <typename ForEachEntry>
PageVector<std::uint32_t> SlotsOf(const PageVector<std::int64_t>& ptr,
                                  const PageVector<std::int64_t>& row, std::int64_t keep,
                                  const std::int64_t* position, ForEachEntry&& for_each_entry) {
  std::size_t entries = 0;
  for_each_entry([&entries](std::int64_t, std::int64_t, double) { ++entries; });
  PageVector<std::uint32_t> slots;
  slots.reserve(entries);
  for_each_entry([&](std::int64_t a, std::int64_t b, double) {
    const std::int64_t pa = position[a];
    const std::int64_t pb = position[b];
    const std::int64_t col = std::min(pa, pb);
    if (col >= keep) {
      slots.push_back(kNoSlot);
      return;
    }
    const auto first = row.begin() + ptr[std::size_t(col)];
    const auto at = std::lower_bound(first, row.begin() + ptr[std::size_t(col) + 1],
                                     std::max(pa, pb));
    slots.push_back(static_cast<std::uint32_t>(at - row.begin()));
  });
  return slots;
}

/// The same columns as an Eigen matrix with `size` rows.
inline SparseLower ToSparse(const LowerColumns& c, std::int64_t size, std::int64_t columns) {
  SparseLower m(size, columns);
  m.resizeNonZeros(static_cast<Eigen::Index>(c.row.size()));
  std::copy(c.ptr.begin(), c.ptr.end(), m.outerIndexPtr());
  std::copy(c.row.begin(), c.row.end(), m.innerIndexPtr());
  std::copy(c.value.begin(), c.value.end(), m.valuePtr());
  return m;
}

}  // namespace aimc::circuit::internal
