// Checkpoints of a whole run (checkpoint.h, docs/checkpoints.md): System's side, the order of the
// sections and what a run must be to save or load one.
#include "virtsim/platform/system.h"

#include <cstdio>

#include "virtsim/common/output_files.h"

namespace virtsim {

namespace {
// Under shadow paging the controls' CR3 is the shadow root the hardware walks, and the guest's
// own CR3 is the vCPU's beside it.
void put_paging(StateWriter& out, const PagingControls& c, Addr guest_cr3) {
  out.put_tag("VCPU");
  out.put<std::uint64_t>(guest_cr3);
  out.put<std::uint32_t>(static_cast<std::uint32_t>(c.format));
  out.put<std::uint64_t>(c.cr3);
  out.put<std::uint8_t>(c.write_protect);
  out.put<std::uint8_t>(c.no_execute);
  out.put<std::uint8_t>(c.page_size_ext);
  out.put<std::uint32_t>(c.max_phys_bits);
  for (std::uint64_t p : c.pdptes) out.put<std::uint64_t>(p);
}
PagingControls get_paging(StateReader& in, const PagingControls& mine, Addr& guest_cr3) {
  in.expect_tag("VCPU");
  guest_cr3 = in.get<std::uint64_t>("guest CR3");
  PagingControls c;
  c.format = static_cast<TableFormat>(in.get<std::uint32_t>("paging mode"));
  if (c.format != mine.format) in.fail("paging mode", "this run's guest paging mode", in.offset() - 4);
  c.cr3 = in.get<std::uint64_t>("CR3");
  c.write_protect = in.get_bool("CR0.WP");
  c.no_execute = in.get_bool("EFER.NXE");
  c.page_size_ext = in.get_bool("CR4.PSE");
  c.max_phys_bits = in.get<std::uint32_t>("MAXPHYADDR");
  for (std::uint64_t& p : c.pdptes) p = in.get<std::uint64_t>("PDPTE");
  return c;
}
std::string scope_of(const Counter& statistic) {
  const std::string& name = statistic.name();
  return name.substr(0, name.rfind('.'));
}
}  // namespace

// The warmed microarchitectural state: which vCPU began the region of interest and when, then
// per vCPU its interval core's state in flight and its TLB levels, per MMU its walk caches,
// nested TLB and walkers' busy times, per cache module its L1D and L2, then the LLC; each a
// structure of its own (put_structure()), so a loading run whose structure has another geometry
// starts that one cold.
void System::save_microarchitecture(StateWriter& out) const {
  out.put<std::uint64_t>(roi_leader_);
  out.put<std::uint64_t>(roi_begin_cycles_);
  for (const auto& v : vcpus_) {
    v->save_core_state(out);
    for (const Tlb* t : {&v->tlbs.itlb, &v->tlbs.dtlb, &v->tlbs.stlb})
      put_structure(out, scope_of(t->accesses), t->geometry(), [&] { t->save_state(out); });
  }
  for (const auto& m : mmus_) m->save_state(out);
  for (const auto& c : caches_)
    for (const Cache* cache : {&c->l1d, &c->l2})
      put_structure(out, scope_of(cache->accesses), cache->geometry(), [&] { cache->save_state(out); });
  put_structure(out, scope_of(llc_->accesses), llc_->geometry(), [&] { llc_->save_state(out); });
}

std::vector<std::string> System::load_microarchitecture(StateReader& in) {
  std::vector<std::string> cold;
  const std::uint64_t at = in.offset();
  roi_leader_ = in.get<std::uint64_t>("vCPU that began the region of interest");
  if (roi_leader_ >= vcpus_.size())
    in.fail("vCPU that began the region of interest", "a vCPU below " + std::to_string(vcpus_.size()), at);
  // The vCPUs sync at multiples of the quantum from time 0: the run starts at the saving run's
  // phase within a quantum (the saving run's cycle at the region's start modulo this run's
  // quantum), so they sync, and so interleave their kernel work, at the same cycles of the
  // region. The leader goes first, the others a delta cycle later, as they left the barrier of
  // begin_region_of_interest(). The hook is the scheduler's, which checkpoints refuse: it runs
  // at the vCPU's start and at each quantum boundary.
  const Cycles phase = in.get<std::uint64_t>("cycle of the region of interest") % std::max<Cycles>(quantum_cycles, 1);
  roi_begin_cycles_ = phase;
  for (std::size_t i = 0; i < vcpus_.size(); ++i)
    vcpus_[i]->set_schedule_action([this, i, phase, started = false](bool done) mutable {
      if (done || started) return;
      started = true;
      if (phase) sc_core::wait(clock_->delay(phase));
      if (i == roi_leader_) roi_begun_.notify(sc_core::SC_ZERO_TIME);
      else sc_core::wait(roi_begun_);
    });
  for (const auto& v : vcpus_) {
    v->load_core_state(in, cold);
    for (Tlb* t : {&v->tlbs.itlb, &v->tlbs.dtlb, &v->tlbs.stlb})
      get_structure(in, scope_of(t->accesses), t->geometry(), [&] { t->load_state(in); }, cold);
  }
  for (const auto& m : mmus_) m->load_state(in, cold, clock_->delay(phase).value());
  for (const auto& c : caches_)
    for (Cache* cache : {&c->l1d, &c->l2})
      get_structure(in, scope_of(cache->accesses), cache->geometry(), [&] { cache->load_state(in); }, cold);
  get_structure(in, scope_of(llc_->accesses), llc_->geometry(), [&] { llc_->load_state(in); }, cold);
  return cold;
}

void System::check_checkpoint_support() const {
  const CheckpointParameters& p = checkpoint_parameters;
  const bool saving = !p.save.get().empty(), loading = !p.load.get().empty();
  if (!saving && !loading) {
    if (p.stop) throw ConfigError(p.stop.name() + " = true needs " + p.save.name() + ": there is nothing to stop after");
    return;
  }
  const std::string key = saving ? p.save.name() : p.load.name();
  const auto refuse = [&](const std::string& setting, const std::string& why) {
    throw ConfigError(key + ": checkpoints hold " + why + "; this run has " + setting + " (docs/checkpoints.md)");
  };
  if (saving && loading)
    refuse(p.load.name() + " = \"" + p.load.get() + "\" as well",
           "the state at the region of interest, which a run that starts from one never reaches again");
  if (vms > 1) refuse(vms.name() + " = " + std::to_string(vms.get()), "one VM");
  if (pcpus > 0) refuse(pcpus.name() + " = " + std::to_string(pcpus.get()), "no vCPU scheduler");
  if (sampling_parameters.enabled || sampling_parameters.fast_forward)
    refuse(sampling_parameters.enabled ? sampling_parameters.enabled.name() + " = true"
                                       : sampling_parameters.fast_forward.name() + " > 0",
           "a detailed run, not a sampled one");
  const std::string& virt = memory_virtualization();
  if (!memory_virtualizations_.front()->checkpointable())
    refuse("memory virtualization " + virt,
           "native, nested, shadow or agile paging, a paravirtual MMU, binary translation or trap-and-emulate (the "
           "others keep state of their own)");
  // The VMCS's CR3-target list is the VT-x unit's, which starts as at boot.
  if (!virts_.empty() && shadow_tables() && hypervisor_parameters.cr3_targets.get() > 0)
    refuse(hypervisor_parameters.cr3_targets.name() + " = " + std::to_string(hypervisor_parameters.cr3_targets.get()),
           "shadow paging without a CR3-target list");
  if (workload_kind.get() == "exitbench") refuse(workload_kind.name() + " = \"exitbench\"", "a guest OS's workload");
  if (saving) {
    try {
      check_output_path(p.save.get(), true);  // before the warm-up, not after it
    } catch (const UserError& e) {
      throw ConfigError(p.save.name() + " = \"" + p.save.get() + "\": " + e.what());
    }
  }
}

void System::save_checkpoint() {
  const std::string& path = checkpoint_parameters.save.get();
  for (const auto& v : vcpus_) {
    if (v->guest_view().digest())
      throw CheckpointError(checkpoint_parameters.save.name() + " = \"" + path +
                            "\": the guest ran sensitive instructions in its warm-up, whose processor state "
                            "checkpoints do not hold");
    // The loading run's vCPUs start at their configured CPL, as this run's began.
    if (v->current_cpl() != v->cpl.get())
      throw CheckpointError(checkpoint_parameters.save.name() + " = \"" + path + "\": the vCPU is at CPL " +
                            std::to_string(v->current_cpl()) + " where the region of interest begins, not " +
                            v->cpl.name() + " = " + std::to_string(v->cpl.get()));
  }
  StateWriter out;
  out.put_tag("SRC0");
  for (const auto& source : sources_) out.put<std::uint64_t>(source->memory_references());
  memory_->memory().save_state(out);
  frames_->save_state(out);
  guest_frames_.front()->save_state(out);
  kernels_.front()->os.save_state(out);
  for (const auto& v : vcpus_) put_paging(out, v->paging(), v->guest_cr3());
  out.put_tag("MVIR");
  memory_virtualizations_.front()->save_state(out);
  // One VM: the VT-x / AMD-V units are the vCPUs', in order.
  for (std::size_t i = 0; i < virts_.size(); ++i) virts_[i]->save_deadlines(out, vcpus_[i]->guest_time());
  out.put_tag("UARC");
  out.put<std::uint8_t>(checkpoint_parameters.microarchitecture);
  if (checkpoint_parameters.microarchitecture) {
    const std::size_t at = out.bytes().size();
    out.put<std::uint64_t>(0);
    save_microarchitecture(out);
    const std::uint64_t length = out.bytes().size() - at - 8;
    std::memcpy(out.bytes().data() + at, &length, 8);
  }
  write_checkpoint(path, functional_settings(*context_.params), out.bytes());
  checkpoint_written_ = true;
  if (checkpoint_parameters.stop) sc_core::sc_stop();
}

void System::load_checkpoint() {
  const std::string& key = checkpoint_parameters.load.name();
  const std::string& path = checkpoint_parameters.load.get();
  const std::vector<std::uint8_t> state = read_checkpoint(key, path, functional_settings(*context_.params));
  StateReader in(state.data(), state.size(), key + " = \"" + path + "\", state");
  // The workload's records up to its region of interest are read again (without running them):
  // a generator's or a trace's position is where that leaves it.
  // Runs of plain events through the fast path (a run ends after a RoiBegin), other records one
  // at a time.
  in.expect_tag("SRC0");
  std::vector<GuestEvent> run(4096);
  for (const auto& source : sources_) {
    const std::uint64_t at = in.offset();
    const auto references = in.get<std::uint64_t>("workload references");
    for (;;) {
      const std::size_t n = source->plain_events(run.data(), run.size(), ~std::uint64_t{0}).events;
      if (n) {
        if (run[n - 1].kind == GuestEventKind::RoiBegin) break;
        continue;
      }
      const std::optional<TraceRecord> r = source->next();
      if (!r) in.fail("workload references", "a workload with a region of interest (this one has none)", at);
      if (r->kind == TraceRecordKind::RoiBegin) break;
    }
    if (source->memory_references() != references)
      in.fail("workload references", std::to_string(source->memory_references()) +
                                         " before the region of interest, found " + std::to_string(references),
              at);
  }
  memory_->memory().load_state(in);
  frames_->load_state(in);
  guest_frames_.front()->load_state(in);
  kernels_.front()->os.load_state(in);
  for (const auto& v : vcpus_) {
    Addr guest_cr3 = 0;
    const PagingControls paging = get_paging(in, v->paging(), guest_cr3);
    v->restore_paging(paging, guest_cr3);
  }
  in.expect_tag("MVIR");
  memory_virtualizations_.front()->load_state(in);
  for (std::size_t i = 0; i < virts_.size(); ++i) virts_[i]->load_deadlines(in, vcpus_[i]->guest_time());
  in.expect_tag("UARC");
  if (!in.get_bool("microarchitectural state saved")) {
    if (checkpoint_parameters.microarchitecture)
      std::fprintf(stderr,
                   "virtsim: note: %s = \"%s\": saved without its TLBs, walk caches and caches (%s = false): "
                   "they start cold\n",
                   key.c_str(), path.c_str(), checkpoint_parameters.microarchitecture.name().c_str());
  } else {
    const std::uint64_t length = in.count("microarchitectural state length", 1);
    if (!checkpoint_parameters.microarchitecture) {
      in.skip(length, "microarchitectural state");
    } else {
      for (const std::string& line : load_microarchitecture(in))
        std::fprintf(stderr, "virtsim: note: %s = \"%s\": %s\n", key.c_str(), path.c_str(), line.c_str());
    }
  }
  if (!in.at_end()) in.fail("end", "the end of the state, found " + std::to_string(state.size() - in.offset()) + " more bytes");
  references_before_checkpoint_ = kernels_.front()->os.memory_references();
  // The run starts in its region of interest: nothing before it counts.
  if (context_.stats) context_.stats->reset_all();
}

}  // namespace virtsim
