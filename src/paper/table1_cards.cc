// Table I's columns: the cards it judges, and the SOT-MRAM card read a second way.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aimc/device/card.h"
#include "aimc/device/mtj.h"
#include "parts.h"

namespace aimc::paper {

std::unique_ptr<device::DeviceCard> SotDiameterReading() {
  // "A Gaussian on the MTJ radius with sigma = 3 nm" read as 3 nm on the diameter: the same
  // pillar at the same R_ON with half the radius spread (see fig08d_sigma_r_reading).
  device::MtjOptions d = SotMramCard();
  const double r_on = device::MtjCard(d).r_on_ohm();
  d.sigma_radius_nm /= 2;
  d.name += ", 3 nm on diameter";
  auto reading = device::MtjCard(d).WithRon(r_on);
  // The same device physics and cell as the card (the rows for devices in use and for cost).
  const auto shipped = device::LoadCardOrPreset("sot_mram");
  reading->set_physics(shipped->physics());
  reading->set_cell(shipped->cell());
  return reading;
}

std::vector<Table1Card> Table1Cards(const std::vector<std::string>& names) {
  std::vector<Table1Card> cards;
  for (const std::string& name : names) {
    auto card = device::LoadCardOrPreset(name);
    cards.push_back({card->name(), std::move(card), false});
  }
  auto reading = SotDiameterReading();
  const std::string label = reading->name();
  cards.push_back({label, std::move(reading), true});
  return cards;
}

}  // namespace aimc::paper
