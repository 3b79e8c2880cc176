"""No import cycle among the project's modules: data and calls flow one way.

The graph is grimp's (every `import` in a module, those inside functions too, so a cycle hidden
behind a lazy import still counts; `if TYPE_CHECKING:` imports are left out)."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("saasbridge", "athena_connector", "appflow_connector", "demo_saas", "bench")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """One shortest cycle through each import that closes one, as module names (first == last)."""
    cycles: dict[frozenset[str], list[str]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.setdefault(frozenset(back), [importer, *back])
    return list(cycles.values())


@pytest.fixture(scope="module")
def project_graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)


def test_the_project_has_no_import_cycle(project_graph):
    assert set(PACKAGES) <= project_graph.modules
    assert len(project_graph.modules) > 100  # every module was found, not only the packages
    cycles = import_cycles(project_graph)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_check_finds_a_cycle_hidden_behind_a_lazy_import(tmp_path, monkeypatch):
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b, typed\n")  # typed imports a only for typing
    (pkg / "b.py").write_text("from cyclepkg.c import helper\n")
    (pkg / "c.py").write_text("def helper():\n    from cyclepkg.a import b\n    return b\n")
    (pkg / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyclepkg import a\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclepkg", cache_dir=None, exclude_type_checking_imports=True)
    assert import_cycles(graph) == [["cyclepkg.a", "cyclepkg.b", "cyclepkg.c", "cyclepkg.a"]]
    (pkg / "c.py").write_text("def helper():\n    return 1\n")
    graph = grimp.build_graph("cyclepkg", cache_dir=None, exclude_type_checking_imports=True)
    assert import_cycles(graph) == []
