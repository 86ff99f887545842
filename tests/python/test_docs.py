"""The documentation: the site builds with no warning, the README stays short, every link to a
local file resolves, generated pages are what the generator makes from the current code, the
accuracy report lists the current cases with their sources, and nothing cites a file users do
not have."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
GENERATED = ["accuracy.md", "calibration.md", "exit-costs.md", "fidelity.md", "index.md", "parameters", "workloads.md"]


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


def local_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code holds no links
    text = re.sub(r"`[^`]+`", "", text)  # inline code, which may span lines
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory, virtsim_binary) -> Path:
    out = tmp_path_factory.mktemp("docs")
    result = subprocess.run([str(REPO / "scripts" / "update-docs"), "--out", str(out)], capture_output=True, text=True,
                            env=dict(os.environ, VIRTSIM_BIN=str(virtsim_binary)), timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_the_site_builds_without_a_warning(tmp_path):
    mkdocs = shutil.which("mkdocs")
    assert mkdocs, "mkdocs is not installed: scripts/build-docs installs Debian's package (or apt-get install mkdocs)"
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "images" / "platform.svg").is_file()


def test_every_page_is_in_the_navigation():
    import yaml  # python3-yaml, which Debian's mkdocs depends on

    def pages(entries):
        for entry in entries:
            value = entry if isinstance(entry, str) else next(iter(entry.values()))
            yield from pages(value) if isinstance(value, list) else [value]

    nav = set(pages(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]))
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk - nav == set(), "pages missing from mkdocs.yml's nav"
    assert nav - on_disk == set(), "mkdocs.yml's nav names pages that do not exist"


def test_the_readme_is_at_most_250_lines():
    lines = len((REPO / "README.md").read_text().splitlines())
    assert lines <= 250, f"README.md has {lines} lines: move the detail into docs/"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_local_link_resolves(page):
    for target in local_links(page):
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.relative_to(REPO)}: link to {target}, which does not exist"
        anchor = target.partition("#")[2]
        if anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.M)
            slugs = {re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", h).strip().lower()) for h in headings}  # as MkDocs' toc
            assert anchor in slugs, f"{page.relative_to(REPO)}: link to {target}: no such heading"


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("See [the guide](missing.md) and [a site](https://example.org/x.md), `f[i](n)`.\n```\n[not](a-link.md)\n```\n")
    assert local_links(page) == ["missing.md"]


@pytest.mark.parametrize("name", GENERATED)
def test_generated_pages_are_current(regenerated, name):
    ours, theirs = DOCS / name, regenerated / name
    files = sorted(p.relative_to(theirs).as_posix() for p in theirs.rglob("*.md")) if theirs.is_dir() else [""]
    if theirs.is_dir():
        assert sorted(p.relative_to(ours).as_posix() for p in ours.rglob("*.md")) == files, "run scripts/update-docs"
    for f in files:
        a, b = (ours / f if f else ours), (theirs / f if f else theirs)
        assert a.read_text() == b.read_text(), f"docs/{name}/{f} is stale: run scripts/update-docs"


def test_the_platform_picture_shows_the_current_graph(regenerated, virtsim_binary):
    """The SVG's text can differ between Graphviz versions; its nodes and edges may not."""
    committed = (DOCS / "images" / "platform.svg").read_text()
    dot = subprocess.run([str(virtsim_binary), "platform", "--dot", "--set", "system.cpus=2"], capture_output=True,
                         text=True, env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")).stdout
    nodes = re.findall(r'^\s*"(\w+)" \[', dot, flags=re.M)
    edges = re.findall(r'^\s*"(\w+)"->"(\w+)"', dot, flags=re.M)
    assert len(nodes) >= 8 and edges
    for n in nodes:
        assert f"<title>{n}</title>" in committed, f"{n} is not in docs/images/platform.svg: run scripts/update-docs"
    for a, b in edges:
        assert f"<title>{a}&#45;&gt;{b}</title>" in committed, f"{a}->{b} is not in docs/images/platform.svg"


def test_the_accuracy_report_lists_every_case_with_its_source():
    """Without running anything: the cases of experiments/regression/ and their sources are
    those the committed report shows (test_generated_pages_are_current checks the results)."""
    report = (DOCS / "accuracy.md").read_text()
    listed = re.findall(r"^## (\S+)$", report, flags=re.M)
    cases = sorted((REPO / "experiments" / "regression").glob("*.toml"))
    assert listed == [c.stem for c in cases]
    for c in cases:
        case = tomllib.loads(c.read_text())["case"]
        section = report.split(f"\n## {c.stem}\n", 1)[1].split("\n## ", 1)[0]
        assert case["description"] in section, c.stem
        assert case.get("source", "earlier outputs of virtsim") in section, c.stem
        assert f"fast subset: {'yes' if case.get('fast') else 'no'}" in section, c.stem


def test_the_exit_cost_page_splits_every_presets_exits_and_names_their_checks():
    """Without running anything: a table per machine preset with VT-x / AMD-V costs, each row
    split into transition, handler and VMCS accesses, and every published exitbench case beside
    the exit it checks (test_generated_pages_are_current checks the figures)."""
    page = (DOCS / "exit-costs.md").read_text()
    presets = re.findall(r"^## (\S+)$", page, flags=re.M)
    assert len(presets) >= 10
    for preset in presets:
        assert (REPO / "experiments" / "presets" / "machine" / f"{preset}.toml").is_file(), preset
        table = page.split(f"\n## {preset}\n", 1)[1].split("\n## ", 1)[0]
        assert "| exit | hardware transition | handler | VMCS/VMCB accesses | total | checked against | source |" in table
        assert "| CPUID |" in table and "| VMCALL |" in table
    for path in sorted((REPO / "experiments" / "regression").glob("*.toml")):
        case = tomllib.loads(path.read_text())
        if case.get("experiment", {}).get("compare"):
            continue  # a comparison of variants (an L2 guest's exits, docs/nested.md), not one exit of a preset
        if case.get("workload", {}).get("kind") == "exitbench" and case["case"]["kind"] == "published":
            assert f"[{path.stem}](accuracy.md#{path.stem})" in page, path.stem


# Names of the development team's own notes, which users do not have; spelled in pieces so
# that this file does not hold them either.
UNSHIPPED_NOTES = ("REFER" + "ENCE.md", ".." + "/shared", "seed" + " 00")


def test_nothing_cites_a_file_users_do_not_have():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        for phrase in UNSHIPPED_NOTES:
            assert phrase not in text, f"{name} cites {phrase}, which users do not have"


def test_the_readmes_example_output_is_what_virtsim_run_prints(virtsim_binary, tmp_path):
    """The 30-second example shows real output: the default experiment's table as it is today."""
    readme = (REPO / "README.md").read_text()
    shown = readme.split("```\nvirtsim ", 1)[1].split("\nresults: ", 1)[0]
    result = subprocess.run([str(virtsim_binary), "run", "-o", str(tmp_path / "default.h5")], capture_output=True,
                            text=True, env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"), timeout=600)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.split("virtsim ", 1)[1].split("\nresults: ", 1)[0]
    assert printed == shown, "README.md's example output is stale: paste what `build/apps/virtsim run` prints"


def test_the_readmes_example_prose_quotes_its_table():
    """The sentences under the example read their figures off the table above them: a table
    re-pasted after a model change must not leave the prose telling the old story."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("```\nvirtsim ", 1)[1].split("\nresults: ", 1)[0]
    prose = readme.split("\nresults: ", 1)[1].split("```", 1)[1].strip().split("\n\n", 1)[0]
    prose = " ".join(prose.split())
    rows = {}
    for line in table.splitlines():
        cells = line.split()
        if len(cells) == 4 and cells[0] != "metric":
            rows[cells[0]] = [float(c.rstrip("x")) for c in cells[1:]]
    if "slowdown" in table:
        rows["slowdown"] = [float(c.rstrip("x")) for c in table.split("slowdown vs native", 1)[1].split()[:3]]
    native, shadow, nested = 0, 1, 2

    def quoted(pattern):
        found = re.search(pattern, prose)
        assert found, f"README.md: the example's prose no longer says {pattern!r}"
        return [float(g) for g in found.groups()]

    def rounds_to(said, value, digits=0):
        """`said` is `value` rounded to `digits` decimals (either way at a half)."""
        return abs(said - value) <= 0.5 * 10**-digits + 1e-9

    instructions, = quoted(r"same ([\d.]+) G instructions")
    assert rounds_to(instructions, rows["sim.instructions"][native] / 1e9, 2)
    slowdown, exits_k, exit_share = quoted(r"([\d.]+) times slower than native: ([\d]+) k VM exits .*? cost (\d+) % of its")
    assert rounds_to(slowdown, rows["slowdown"][shadow], 2)
    assert rounds_to(exits_k, rows["exits.total"][shadow] / 1e3)
    assert rounds_to(exit_share, 100 * rows["exits.cycles"][shadow] / rows["sim.cycles"][shadow])
    refs, cycles, native_refs, native_cycles, nested_slowdown = quoted(
        r"([\d.]+) page-table references and (\d+) cycles per walk against ([\d.]+) and (\d+) natively, for a "
        r"slowdown of (\d+\.\d+)")
    assert rounds_to(refs, rows["walk.refs_per_walk"][nested], 2)
    assert rounds_to(cycles, rows["walk.cycles_per_walk"][nested])
    assert rounds_to(native_refs, rows["walk.refs_per_walk"][native], 2)
    assert rounds_to(native_cycles, rows["walk.cycles_per_walk"][native])
    assert rounds_to(nested_slowdown, rows["slowdown"][nested], 2)


def test_performance_page_holds_the_harness_table():
    """The throughput figures are the harness's own table (bench/throughput --update-docs), so
    every row the harness prints is on the page, in its order."""
    page = (DOCS / "performance.md").read_text()
    assert page.count("<!-- throughput:begin -->") == 1 and page.count("<!-- throughput:end -->") == 1
    block = page.split("<!-- throughput:begin -->", 1)[1].split("<!-- throughput:end -->", 1)[0]
    harness = (REPO / "bench" / "throughput").read_text()
    labels = [label for label in re.findall(r'^\s*row "([^"]*)"', harness, flags=re.M) if label.strip()]
    assert len(labels) > 10
    at = 0
    for label in labels:
        found = block.find(label, at)
        assert found >= 0, f"docs/performance.md lacks the harness row {label!r}: run bench/throughput --update-docs"
        at = found + len(label)


@pytest.mark.parametrize("page", sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")))
def test_no_code_fence_is_indented(page):
    """MkDocs' Markdown does not open a fence inside a list item: an indented ``` shows its code
    as running text on the site."""
    indented = [n for n, line in enumerate((DOCS / page).read_text().splitlines(), 1) if re.match(r"\s+```", line)]
    assert not indented, f"docs/{page}: indented code fences at lines {indented}"
