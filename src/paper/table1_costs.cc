// The cost of an inference on each card's chip, for Fig. 21 and Table I's cost rows.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "aimc/common/rng.h"
#include "energy_part.h"
#include "units.h"
#include "verdict.h"

namespace aimc::paper {

CardCosts RunCardCosts(const StudyOptions& options, const Table1Options& v,
                       const std::vector<Table1Card>& entries, Cnn1IrDrop& cnn1, Cnn2Grid& cnn2) {
  CardCosts c;
  c.cnn1_options = StudyEnergyOptions(100);
  // ResNet-26 reads ~30x more per image than LeNet-5: fewer images give the same precision.
  c.cnn2_options = StudyEnergyOptions(20);
  nn::NetworkImpl& net2 = *cnn2.nets.At(v.sigma_train).network;
  const nn::Dataset test2 =
      cnn2.data.split.test.Head(Limits::Images(c.cnn2_options.images, options.limits.test_images));
  const std::size_t n = entries.size();
  UnitsOptions show;
  show.progress = "energy per card";
  show.item = "chip";
  show.status = [&](std::size_t i, const std::vector<double>& r) {
    return fmt::format("{} CNN {}: {:.3g} pJ, {:.3g} TOPS/W", entries[i % n].label, i < n ? 2 : 1,
                       r.at(0), r.at(10));
  };
  // CNN 2's chips first: they take the longest.
  const std::vector<std::vector<double>> results = RunUnits(
      2 * n,
      [&](std::size_t i) {
        const Table1Card& e = entries[i % n];
        const std::uint64_t seed = Rng::Derive(options.run.seed, 1403 + i % n);
        const energy::InferenceCost cost =
            i < n ? CostOnChip(net2, test2, e.card, v.wire_scale, c.cnn2_options, seed)
                  : CostOnChip(*cnn1.net.network, cnn1.test, e.card, v.wire_scale, c.cnn1_options,
                               seed);
        return CostFields(cost);
      },
      show);
  for (std::size_t i = 0; i < n; ++i) {
    c.cnn2.push_back(results[i]);
    c.cnn1.push_back(results[n + i]);
  }
  return c;
}

double CostField(const std::vector<double>& fields, const std::string& column) {
  const std::vector<std::string>& c = CostColumns();
  return fields.at(static_cast<std::size_t>(std::find(c.begin(), c.end(), column) - c.begin()));
}

}  // namespace aimc::paper
