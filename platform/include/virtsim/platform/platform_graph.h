#pragma once
// The configured platform as a graph (docs/concepts.md): components are vertices, each
// TLM binding is an edge from an initiator port to a target port. The graph is validated
// before any SystemC module exists, then drives instantiation and binding, and can be drawn
// with Graphviz (`virtsim platform CONFIG --dot`).
#include <boost/graph/adjacency_list.hpp>
#include <string>
#include <vector>

namespace virtsim {

enum class PortRole { Initiator, Target };

struct PortDecl {
  std::string name;
  PortRole role = PortRole::Initiator;
  bool required = true;  // initiator: must be bound; target: at least one initiator must bind it
};

struct ComponentNode {
  std::string name;  // instance name, e.g. "cpu0"
  std::string type;  // "vcpu", "mmu", "memory"
  std::vector<PortDecl> ports;
  std::string group;  // the VM ("vm1") or physical CPU ("pcpu0") it belongs to; drawn as a cluster
};

struct BindingEdge {
  std::string initiator_port;
  std::string target_port;
};

class PlatformGraph {
 public:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, ComponentNode, BindingEdge>;
  using Vertex = Graph::vertex_descriptor;

  Vertex add_component(ComponentNode node);
  // Binds `initiator.port` to `target.port`. Unknown components or ports throw PlatformError.
  void bind(const std::string& initiator, const std::string& initiator_port, const std::string& target,
            const std::string& target_port);

  // Throws PlatformError naming the component at fault: an unbound required port, an
  // initiator port bound twice, no memory or more than one, a cycle of bindings.
  void validate() const;

  std::string to_dot() const;
  const Graph& graph() const { return graph_; }
  std::vector<const ComponentNode*> components_of_type(const std::string& type) const;

 private:
  Vertex find(const std::string& name) const;
  Graph graph_;
};

// The standard platform: per vCPU one MMU and one private cache module (L1D, L2) that the
// vCPU's data port and the MMU's walker port both bind; every cache module binds the one
// memory (the shared LLC sits inside the cache modules); page faults go to the one kernel.
// With `virtualized`, each vCPU also binds its own VT-x / AMD-V unit ("virtN").
// Several VMs (`vms` > 1): each has `cpus` vCPUs (numbered on: VM k's are cpu k*cpus ...) and
// a kernel of its own ("kernel", "kernel1", ...). With `pcpus` > 0 the host has that many
// physical CPUs, vCPU i runs on CPU i mod pcpus, and the vCPUs of a CPU share its cache module
// ("cacheP", in group "pcpuP"); otherwise every vCPU has its own.
PlatformGraph make_standard_platform(unsigned cpus, bool virtualized = false, unsigned vms = 1, unsigned pcpus = 0);
// The same with a vCPU count per VM (VM k's vCPUs numbered on after VM k-1's).
PlatformGraph make_standard_platform(const std::vector<unsigned>& cpus_per_vm, bool virtualized, unsigned pcpus);
// The kernel component of VM `vm`.
std::string kernel_name(unsigned vm);

// Component types the instantiator knows, with their ports.
ComponentNode vcpu_component(const std::string& name);
ComponentNode mmu_component(const std::string& name);
ComponentNode cache_component(const std::string& name);
ComponentNode virt_component(const std::string& name);
ComponentNode memory_component(const std::string& name);
ComponentNode kernel_component(const std::string& name);  // the guest kernel's fault handler

}  // namespace virtsim
