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

namespace aimc::circuit::internal {

/// Compressed columns of a lower triangle: the rows of column k are row[ptr[k] .. ptr[k + 1]),
/// ascending, each once.
struct LowerColumns {
  std::vector<std::int64_t> ptr;
  std::vector<std::int64_t> row;
  std::vector<double> value;
};

/// The lower triangle of the symmetric matrix whose entries `for_each_entry(emit)` passes as
/// emit(a, b, value) (an off-diagonal pair once, in either order), renumbered by `position`
/// (position[a]; empty: as numbered), keeping columns < `keep`.
/// Duplicates are summed in the order given, so the values depend on nothing else.
template <typename ForEachEntry>
LowerColumns AssembleLower(std::int64_t keep, const std::vector<std::int64_t>& position,
                           ForEachEntry&& for_each_entry) {
  const auto at = [&position](std::int64_t a) {
    return position.empty() ? a : position[std::size_t(a)];
  };
  LowerColumns out;
  out.ptr.assign(std::size_t(keep) + 1, 0);
  for_each_entry([&](std::int64_t a, std::int64_t b, double) {
    const std::int64_t col = std::min(at(a), at(b));
    if (col < keep) ++out.ptr[std::size_t(col) + 1];
  });
  for (std::int64_t k = 0; k < keep; ++k) out.ptr[std::size_t(k) + 1] += out.ptr[std::size_t(k)];
  std::vector<std::int64_t> next(out.ptr.begin(), out.ptr.end() - 1);
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
  // Sort each column by row (stable: equal rows keep the order given) and sum duplicates.
  std::vector<std::pair<std::int64_t, double>> column;
  std::int64_t kept = 0;
  for (std::int64_t k = 0; k < keep; ++k) {
    const std::int64_t begin = out.ptr[std::size_t(k)];
    const std::int64_t end = out.ptr[std::size_t(k) + 1];
    column.clear();
    for (std::int64_t e = begin; e < end; ++e) {
      column.emplace_back(out.row[std::size_t(e)], out.value[std::size_t(e)]);
    }
    std::stable_sort(column.begin(), column.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    out.ptr[std::size_t(k)] = kept;
    for (std::size_t e = 0; e < column.size(); ++e) {
      if (e > 0 && column[e].first == column[e - 1].first) {
        out.value[std::size_t(kept) - 1] += column[e].second;
        continue;
      }
      out.row[std::size_t(kept)] = column[e].first;
      out.value[std::size_t(kept)] = column[e].second;
      ++kept;
    }
  }
  out.ptr[std::size_t(keep)] = kept;
  out.row.resize(std::size_t(kept));
  out.value.resize(std::size_t(kept));
  return out;
}

/// Adds the entries `for_each_entry(emit)` passes into `value`, laid out as `pattern` (whose
/// values are not used) built by AssembleLower from the same stream with the same `position`
/// and `keep`; `value` starts at zero. Sums in the order given: the same values as
/// AssembleLower's.
template <typename ForEachEntry>
void ScatterLower(const std::int64_t* ptr, const std::int64_t* row, double* value,
                  std::int64_t keep, const std::vector<std::int64_t>& position,
                  ForEachEntry&& for_each_entry) {
  for_each_entry([&](std::int64_t a, std::int64_t b, double v) {
    const std::int64_t pa = position[std::size_t(a)];
    const std::int64_t pb = position[std::size_t(b)];
    const std::int64_t col = std::min(pa, pb);
    if (col >= keep) return;
    const std::int64_t* first = row + ptr[std::size_t(col)];
    const std::int64_t* slot =
        std::lower_bound(first, row + ptr[std::size_t(col) + 1], std::max(pa, pb));
    value[slot - row] += v;
  });
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
