// Fig. 21: TOPS/W and energy per inference of every card of Table I, CNN 1 and CNN 2.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "energy_part.h"
#include "verdict.h"

namespace aimc::paper {

report::Figure Fig21(const Table1Options& v, const std::vector<Table1Card>& entries,
                     const CardCosts& costs) {
  report::Figure f;
  f.title = "Fig. 21: TOPS/W of every technology (CNN 1 and CNN 2)";
  f.table.columns = {"card_index", "network"};
  for (const std::string& c : CostColumns()) f.table.columns.push_back(c);
  f.table.columns.push_back("array_share");
  std::string summary;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    for (int net : {1, 2}) {
      const std::vector<double>& r = net == 1 ? costs.cnn1[i] : costs.cnn2[i];
      std::vector<double> row = {static_cast<double>(i), static_cast<double>(net)};
      row.insert(row.end(), r.begin(), r.end());
      row.push_back(CostField(r, "array_pj") / CostField(r, "energy_pj"));
      f.table.Add(row);
    }
    const std::vector<double>& a = costs.cnn1[i];
    const std::vector<double>& b = costs.cnn2[i];
    f.plot.labels.push_back({static_cast<double>(i), CostField(a, "tops_per_w"), entries[i].label});
    summary += fmt::format(
        "; {} (R_ON {:.3g} Ohm): CNN 1 {} per inference ({:.2g} % in the arrays), {:.3g} TOPS/W; "
        "CNN 2 {} ({:.2g} %), {:.3g} TOPS/W",
        entries[i].label, entries[i].card->r_on_ohm(), Joules(CostField(a, "energy_pj") * 1e-12),
        100 * CostField(a, "array_pj") / CostField(a, "energy_pj"), CostField(a, "tops_per_w"),
        Joules(CostField(b, "energy_pj") * 1e-12),
        100 * CostField(b, "array_pj") / CostField(b, "energy_pj"), CostField(b, "tops_per_w"));
  }
  f.plot.xlabel = "technology (card index, Table I order)";
  f.plot.ylabel = "TOPS/W";
  f.plot.log_y = true;
  f.plot.x_min = -0.5;
  f.plot.x_max = static_cast<double>(entries.size()) - 0.5;
  f.plot.series.push_back({"card_index", "tops_per_w", "CNN 1", "network", 1.0, "points pt 7 ps 1.5"});
  f.plot.series.push_back({"card_index", "tops_per_w", "CNN 2", "network", 2.0, "points pt 5 ps 1.5"});
  f.plot.key = "inside bottom right box opaque";
  f.paper = "(not in the paper) R_ON > 5 MOhm keeps the array current low; SOT-MRAM writes at "
            "< 1 V in 0.5 ns";
  f.ours = fmt::format(
      "each card at its own R_ON on {} x the 22 nm layout wires, one chip; energy per inference "
      "over the first {} (CNN 1) / {} (CNN 2) test images, arrays exact from their circuits, "
      "periphery from docs/energy.md{}",
      v.wire_scale, costs.cnn1_options.images, costs.cnn2_options.images, summary);
  f.options = {{"verdict", v.ToJson()},
               {"energy_cnn1", costs.cnn1_options.ToJson()},
               {"energy_cnn2", costs.cnn2_options.ToJson()}};
  return f;
}

}  // namespace aimc::paper
