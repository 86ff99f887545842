// A whole system under VT-x with shadow paging (so guest entries carry no nested context):
// the VPID the system gives each virtualization unit reaches its vCPU, every guest entry in
// the vCPU's TLBs carries it, and a lookup with the host's tags (VPID 0) hits none of them.
#include <gtest/gtest.h>

#include "virtsim/platform/system.h"

namespace virtsim {
namespace {

TEST(SystemVpid, GuestTlbEntriesCarryTheUnitsVpidAndHostLookupsMissThem) {
  ParamRegistry params;
  StatRegistry stats;
  const ValueSource test{"test"};
  params.set_value("system.cpus", std::int64_t{2}, test);
  params.set_value("system.vmx.mode", std::string("vmx"), test);
  params.set_value("system.shadow.enabled", true, test);
  params.set_value("workload.kind", std::string("gups"), test);
  params.set_value("workload.footprint_kib", std::int64_t{256}, test);
  params.set_value("workload.accesses", std::int64_t{2000}, test);
  System system("system", Scope{&params, &stats, ""});
  params.check_all_used();
  sc_core::sc_start();

  for (std::size_t cpu = 0; cpu < 2; ++cpu) {
    const Vcpu& vcpu = system.vcpu(cpu);
    const std::uint16_t vpid = static_cast<std::uint16_t>(cpu + 1);  // the system numbers them from 1
    std::size_t checked = 0;
    for (const Tlb* tlb : {&vcpu.tlbs.dtlb, &vcpu.tlbs.stlb}) {
      for (const TlbEntry& e : tlb->entries()) {
        EXPECT_EQ(e.vpid, vpid) << "vCPU " << cpu << ", page " << to_hex(e.virtual_page);
        const Addr va = e.virtual_page << e.page_shift;
        EXPECT_EQ(tlb->probe(va, TlbTags{e.pcid, 0, 0}), nullptr)
            << "a host lookup of " << to_hex(va) << " hit";
        EXPECT_NE(tlb->probe(va, TlbTags{e.pcid, vpid, 0}), nullptr) << to_hex(va);
        ++checked;
      }
    }
    EXPECT_GT(checked, 10u) << "vCPU " << cpu;
  }
}

}  // namespace
}  // namespace virtsim
