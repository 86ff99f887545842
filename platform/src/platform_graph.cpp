#include "virtsim/platform/platform_graph.h"

#include <algorithm>
#include <boost/graph/depth_first_search.hpp>
#include <map>
#include <sstream>

#include "virtsim/common/error.h"

namespace virtsim {

PlatformGraph::Vertex PlatformGraph::add_component(ComponentNode node) {
  for (auto v : boost::make_iterator_range(boost::vertices(graph_)))
    if (graph_[v].name == node.name) throw PlatformError("platform: component '" + node.name + "' defined twice");
  return boost::add_vertex(std::move(node), graph_);
}

PlatformGraph::Vertex PlatformGraph::find(const std::string& name) const {
  for (auto v : boost::make_iterator_range(boost::vertices(graph_)))
    if (graph_[v].name == name) return v;
  throw PlatformError("platform: no component named '" + name + "'");
}

namespace {
const PortDecl& port_of(const ComponentNode& node, const std::string& port, PortRole role) {
  for (const auto& p : node.ports) {
    if (p.name != port) continue;
    if (p.role != role)
      throw PlatformError("platform: port '" + node.name + "." + port + "' is " +
                          (p.role == PortRole::Initiator ? "an initiator" : "a target") + ", cannot bind it as " +
                          (role == PortRole::Initiator ? "an initiator" : "a target"));
    return p;
  }
  throw PlatformError("platform: component '" + node.name + "' (" + node.type + ") has no port '" + port + "'");
}
}  // namespace

void PlatformGraph::bind(const std::string& initiator, const std::string& initiator_port, const std::string& target,
                         const std::string& target_port) {
  const Vertex from = find(initiator);
  const Vertex to = find(target);
  port_of(graph_[from], initiator_port, PortRole::Initiator);
  port_of(graph_[to], target_port, PortRole::Target);
  boost::add_edge(from, to, BindingEdge{initiator_port, target_port}, graph_);
}

namespace {
// Reports the first back edge found: it closes a cycle of bindings.
struct CycleFinder : boost::default_dfs_visitor {
  std::vector<std::pair<std::string, std::string>>* found;
  template <typename Edge, typename G>
  void back_edge(Edge e, const G& g) const {
    if (found->empty()) found->emplace_back(g[boost::source(e, g)].name, g[boost::target(e, g)].name);
  }
};
}  // namespace

void PlatformGraph::validate() const {
  // Memory: exactly one, at the bottom of every chain of requests.
  std::vector<std::string> memories;
  for (auto v : boost::make_iterator_range(boost::vertices(graph_)))
    if (graph_[v].type == "memory") memories.push_back(graph_[v].name);
  if (memories.empty()) throw PlatformError("platform: no memory component; every platform needs one memory");
  if (memories.size() > 1)
    throw PlatformError("platform: more than one memory component ('" + memories[0] + "' and '" + memories[1] + "')");

  // Ports: every required initiator bound exactly once, every required target bound.
  std::map<std::pair<Vertex, std::string>, int> initiator_uses, target_uses;
  for (auto e : boost::make_iterator_range(boost::edges(graph_))) {
    ++initiator_uses[{boost::source(e, graph_), graph_[e].initiator_port}];
    ++target_uses[{boost::target(e, graph_), graph_[e].target_port}];
  }
  for (auto v : boost::make_iterator_range(boost::vertices(graph_))) {
    const auto& node = graph_[v];
    for (const auto& port : node.ports) {
      const auto& uses = port.role == PortRole::Initiator ? initiator_uses : target_uses;
      const auto it = uses.find({v, port.name});
      const int count = it == uses.end() ? 0 : it->second;
      if (port.required && count == 0)
        throw PlatformError("platform: port '" + node.name + "." + port.name + "' of component '" + node.name +
                            "' (" + node.type + ") is not bound");
      if (port.role == PortRole::Initiator && count > 1)
        throw PlatformError("platform: initiator port '" + node.name + "." + port.name + "' is bound " +
                            std::to_string(count) + " times; an initiator binds exactly one target");
    }
  }

  // Cycles: a request that can come back to its sender would recurse forever in b_transport.
  std::vector<std::pair<std::string, std::string>> cycle;
  CycleFinder finder;
  finder.found = &cycle;
  boost::depth_first_search(graph_, boost::visitor(finder));
  if (!cycle.empty())
    throw PlatformError("platform: illegal cycle of bindings through component '" + cycle.front().second +
                        "' (its binding from '" + cycle.front().first + "' closes the loop)");
}

std::string PlatformGraph::to_dot() const {
  // Written by hand rather than with boost::write_graphviz: the labels need two lines and
  // the output stays stable and diff-friendly. Components of a VM or a physical CPU are drawn
  // in a cluster of their own.
  std::ostringstream out;
  out << "digraph platform {\n  graph [rankdir=TB, label=\"virtsim platform\"];\n";
  auto node = [&](const ComponentNode& n, const char* indent) {
    out << indent << "\"" << n.name << "\" [label=\"" << n.name << "\\n(" << n.type
        << ")\", shape=" << (n.type == "memory" ? "cylinder" : "box") << "];\n";
  };
  std::vector<std::string> groups;
  for (auto v : boost::make_iterator_range(boost::vertices(graph_))) {
    const auto& n = graph_[v];
    if (n.group.empty()) node(n, "  ");
    else if (std::find(groups.begin(), groups.end(), n.group) == groups.end()) groups.push_back(n.group);
  }
  for (const auto& group : groups) {
    out << "  subgraph \"cluster_" << group << "\" {\n    label=\"" << group << "\";\n";
    for (auto v : boost::make_iterator_range(boost::vertices(graph_)))
      if (graph_[v].group == group) node(graph_[v], "    ");
    out << "  }\n";
  }
  for (auto e : boost::make_iterator_range(boost::edges(graph_)))
    out << "  \"" << graph_[boost::source(e, graph_)].name << "\"->\"" << graph_[boost::target(e, graph_)].name
        << "\" [label=\"" << graph_[e].initiator_port << " -> " << graph_[e].target_port << "\"];\n";
  out << "}\n";
  return out.str();
}

std::vector<const ComponentNode*> PlatformGraph::components_of_type(const std::string& type) const {
  std::vector<const ComponentNode*> out;
  for (auto v : boost::make_iterator_range(boost::vertices(graph_)))
    if (graph_[v].type == type) out.push_back(&graph_[v]);
  return out;
}

ComponentNode vcpu_component(const std::string& name) {
  return {name,
          "vcpu",
          {{"translate", PortRole::Initiator, true},
           {"data", PortRole::Initiator, true},
           {"fault_handler", PortRole::Initiator, false},
           {"virtualization", PortRole::Initiator, false},
           {"walk_caches", PortRole::Initiator, false}}, ""};
}
ComponentNode mmu_component(const std::string& name) {
  return {name,
          "mmu",
          {{"translate", PortRole::Target, true},
           {"memory", PortRole::Initiator, true},
           {"walk_cache_control", PortRole::Target, false}}, ""};
}
ComponentNode cache_component(const std::string& name) {
  return {name, "cache", {{"cpu_side", PortRole::Target, true}, {"memory_side", PortRole::Initiator, true}}, ""};
}
ComponentNode virt_component(const std::string& name) {
  return {name, "virt", {{"instructions", PortRole::Target, true}, {"memory", PortRole::Initiator, true}}, ""};
}
ComponentNode kernel_component(const std::string& name) {
  return {name, "kernel", {{"faults", PortRole::Target, false}}, ""};
}
ComponentNode memory_component(const std::string& name) {
  return {name, "memory", {{"port", PortRole::Target, true}}, ""};
}

std::string kernel_name(unsigned vm) { return vm == 0 ? "kernel" : "kernel" + std::to_string(vm); }

PlatformGraph make_standard_platform(unsigned cpus, bool virtualized, unsigned vms, unsigned pcpus) {
  return make_standard_platform(std::vector<unsigned>(vms, cpus), virtualized, pcpus);
}

PlatformGraph make_standard_platform(const std::vector<unsigned>& cpus_per_vm, bool virtualized, unsigned pcpus) {
  PlatformGraph g;
  const auto vms = static_cast<unsigned>(cpus_per_vm.size());
  const bool several = vms > 1 || pcpus > 0;
  auto in = [](ComponentNode n, const std::string& group) {
    n.group = group;
    return n;
  };
  g.add_component(memory_component("memory"));
  for (unsigned k = 0; k < vms; ++k)
    g.add_component(in(kernel_component(kernel_name(k)), several ? "vm" + std::to_string(k) : ""));
  for (unsigned p = 0; p < pcpus; ++p)
    g.add_component(in(cache_component("cache" + std::to_string(p)), "pcpu" + std::to_string(p)));
  std::vector<unsigned> vm_of;  // by vCPU
  for (unsigned k = 0; k < vms; ++k) vm_of.insert(vm_of.end(), cpus_per_vm[k], k);
  for (unsigned i = 0; i < vm_of.size(); ++i) {
    const std::string cpu = "cpu" + std::to_string(i), mmu = "mmu" + std::to_string(i),
                      cache = "cache" + std::to_string(pcpus ? i % pcpus : i);
    const std::string vm = several ? "vm" + std::to_string(vm_of[i]) : "";
    g.add_component(in(vcpu_component(cpu), vm));
    g.add_component(in(mmu_component(mmu), vm));
    if (!pcpus) g.add_component(in(cache_component(cache), vm));
    g.bind(cpu, "translate", mmu, "translate");
    g.bind(cpu, "walk_caches", mmu, "walk_cache_control");
    // Data first, walker second: the cache module tells requesters apart by binding order.
    g.bind(cpu, "data", cache, "cpu_side");
    g.bind(mmu, "memory", cache, "cpu_side");
    if (!pcpus) g.bind(cache, "memory_side", "memory", "port");
    g.bind(cpu, "fault_handler", kernel_name(vm_of[i]), "faults");
    if (virtualized) {
      const std::string virt = "virt" + std::to_string(i);
      g.add_component(in(virt_component(virt), vm));
      g.bind(cpu, "virtualization", virt, "instructions");
      g.bind(virt, "memory", cache, "cpu_side");  // the hypervisor's loads share the vCPU's caches
    }
  }
  for (unsigned p = 0; p < pcpus; ++p) g.bind("cache" + std::to_string(p), "memory_side", "memory", "port");
  return g;
}

}  // namespace virtsim
