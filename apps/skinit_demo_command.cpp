// `virtsim skinit-demo`: a device's DMA into the Secure Loader Block before and after SKINIT,
// on the memory module, the DEV and the DMA engine of models/io and SKINIT of models/vmx.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "commands.h"
#include "virtsim/common/config.h"
#include "virtsim/io/dma_module.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/vmx/skinit.h"

namespace virtsim {

namespace {

constexpr Addr kRing = 0x1000, kSlb = 0x100000, kSource = 0x200000, kOutside = 0x300000;
constexpr Addr kSlbTarget = kSlb + 0x8000;  // a page in the middle of the 64 KiB block
constexpr std::uint32_t kCopyBytes = 4096;
constexpr std::uint16_t kImageBytes = 4096, kEntry = 0x10;
constexpr double kCoreGhz = 2.0;

struct Demo {
  ParamRegistry& params;
  StatRegistry stats;
  Clock clock{kCoreGhz};
  Scope context{&params, &stats, ""};
  MemoryModule memory{"memory", context, clock};
  DeviceExclusionVector dev{context.child("dev"), memory};
  DmaModule dma{"dma", context, clock, dev};
  SkinitUnit skinit{context.child("skinit"), kCoreGhz,
                    [this](Addr a) {
                      std::uint8_t b = 0;
                      memory.memory().read(a, &b, 1);
                      return b;
                    },
                    [this](Addr slb) { dev.protect_secure_loader(slb); }};
  SvmUnit svm;
  unsigned next_descriptor = 0;

  explicit Demo(ParamRegistry& p) : params(p) {
    dma.memory.bind(memory.port);
    dma.memory.connect(memory);
    dma.engine().set_ring(kRing, 64);
  }

  // One 4 KiB DMA from the source buffer to `to`, run to completion; prints its outcome.
  void dma_to(const char* when, Addr to) {
    std::vector<std::uint8_t> fill(kCopyBytes);
    for (std::uint32_t i = 0; i < kCopyBytes; ++i) fill[i] = std::uint8_t(i * 13 + next_descriptor);
    memory.memory().write(kSource, fill.data(), kCopyBytes);
    unsigned char raw[dma_descriptor::kBytes] = {};
    const Addr source = kSource;
    const std::uint32_t length = kCopyBytes, control = dma_descriptor::kOwn;
    std::memcpy(raw + dma_descriptor::kSource, &source, 8);
    std::memcpy(raw + dma_descriptor::kDestination, &to, 8);
    std::memcpy(raw + dma_descriptor::kLength, &length, 4);
    std::memcpy(raw + dma_descriptor::kControl, &control, 4);
    const Addr at = kRing + Addr{next_descriptor++} * dma_descriptor::kBytes;
    memory.memory().write(at, raw, dma_descriptor::kBytes);
    const Cycles busy_before = dma.engine().cycles_busy.count();
    dma.engine().restart();
    dma.ring_doorbell();
    sc_core::sc_start();
    std::uint32_t status = 0, moved = 0;
    memory.memory().read(at + dma_descriptor::kControl, &status, 4);
    memory.memory().read(at + dma_descriptor::kTransferred, &moved, 4);
    std::vector<std::uint8_t> landed(kCopyBytes);
    memory.memory().read(to, landed.data(), kCopyBytes);
    const bool error = status & dma_descriptor::kError;
    std::printf("%-14s DMA %u bytes -> %#" PRIx64 ": %s, %u bytes copied%s, %" PRIu64 " cycles\n", when, kCopyBytes,
                std::uint64_t(to), error ? "REFUSED (descriptor aborted, ERROR)" : "completed", moved,
                error ? "" : (landed == fill ? ", byte-exact" : ", NOT byte-exact"),
                std::uint64_t(dma.engine().cycles_busy.count() - busy_before));
  }
};

}  // namespace

int skinit_demo_command(const ConfigOptions& config, bool intercept) {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{64}, {"skinit-demo"});
  params.set_value("memory.byte_exact_data", true, {"skinit-demo"});  // it checks the bytes a DMA landed
  for (const auto& assignment : config.sets) apply_set_option(assignment, params);
  Demo demo(params);
  params.check_all_used();

  // The secure loader image: entry point offset, length, then code bytes.
  std::vector<std::uint8_t> slb(kImageBytes);
  slb[0] = kEntry;
  slb[2] = kImageBytes & 0xff;
  slb[3] = kImageBytes >> 8;
  for (unsigned i = 4; i < kImageBytes; ++i) slb[i] = std::uint8_t(i * 7);
  demo.memory.memory().write(kSlb, slb.data(), kImageBytes);

  std::printf("memory latency %" PRIu64 " cycles, core %.1f GHz; Secure Loader Block at %#" PRIx64
              " (64 KiB), image %u bytes\n",
              std::uint64_t(demo.memory.latency.get()), kCoreGhz, std::uint64_t(kSlb), kImageBytes);
  demo.dma_to("before SKINIT:", kSlbTarget);

  CpuState cpu;
  cpu.efer |= 1u << 12;  // EFER.SVME
  Vmcb vmcb;
  SkinitContext context;
  if (intercept) {
    vmcb.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kVmrun | svm_intercept::kSkinit);
    context.guest_vmcb = &vmcb;
  }
  const SkinitOutcome out = demo.skinit.execute(std::uint32_t(kSlb), cpu, demo.svm, context);
  if (out.kind == SkinitOutcome::Kind::Intercepted) {
    std::printf("SKINIT:        intercepted in a guest: #VMEXIT %#" PRIx64 " (%s); the SLB stays open to DMA\n",
                std::uint64_t(out.exit.code), out.exit.name().c_str());
  } else {
    std::printf("SKINIT:        launched: %u image bytes measured (digest %016" PRIx64 "), %" PRIu64
                " cycles; EIP %#" PRIx64 " ESP %#" PRIx64 " CR0 %#" PRIx64 " GIF %d; DEV SL_DEV_EN %d\n",
                unsigned(out.image_bytes), out.image_digest, std::uint64_t(out.cycles), cpu.rip, cpu.rsp, cpu.cr0,
                int(demo.svm.global_interrupts()), int(demo.dev.secure_loader_protected()));
  }
  demo.dma_to("after SKINIT:", kSlbTarget);
  demo.dma_to("after SKINIT:", kOutside);

  const DmaEngine& e = demo.dma.engine();
  std::printf("counts: DMA descriptors completed %" PRIu64 ", aborted %" PRIu64 "; DEV checks %" PRIu64
              ", refused %" PRIu64 " (SLB protection %" PRIu64 "); SKINIT launches %" PRIu64 ", intercepts %" PRIu64
              "; memory reads %" PRIu64 ", writes %" PRIu64 "\n",
              e.descriptors_completed.count(), e.descriptors_aborted.count(), demo.dev.checks.count(),
              demo.dev.refused.count(), demo.dev.refused_secure_loader.count(), demo.skinit.launches.count(),
              demo.skinit.intercepts.count(), demo.memory.reads.count(), demo.memory.writes.count());
  return 0;
}

}  // namespace virtsim
