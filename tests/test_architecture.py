"""The layering of docs/architecture.md, held by the imports: no module imports one that stands above it, and the
pure stages do not import each other. Today's known exceptions are listed with their reason; a new one fails here,
and one that is fixed must leave the list."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "inboxbot"

# bottom to top, as in docs/architecture.md; a unit is a module or a package (with everything in it)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("inboxbot", "model", "errors", "faults", "progress", "notes.language"),  # leaves
    ("vocab",),  # the words the stages look for
    ("notes",),  # the note reader (intent, confidence, quote)
    ("parse", "policy", "compose", "actions"),  # the pure stages: siblings, none imports another
    ("config", "credentials", "store", "instance", "mail", "smtp"),  # the edges: settings, secrets, ledger and its
    # lock, mailboxes, SMTP
    ("readahead", "history", "learning", "answers", "status", "digest", "replay"),  # what a pass and a report use
    ("worker",),  # one pass
    ("scheduler", "cli", "__main__", "demo"),  # the commands and the daemon
)
SIBLINGS_APART = {3}  # layers whose units may not import each other

# (importer, imported unit) -> why it is allowed for now (issue 20 names each)
KNOWN = {
    ("vocab", "parse"): "fold() lives in parse/base.py, not yet in a text leaf",
    ("notes.reader", "parse"): "fold() lives in parse/base.py, not yet in a text leaf",
    ("policy.contacts", "parse"): "fold() lives in parse/base.py, not yet in a text leaf",
    ("policy.rules", "parse"): "fold() lives in parse/base.py, not yet in a text leaf",
    ("compose", "parse"): "fold() and display_text() live in parse/, not yet in a text leaf",
    ("policy.chain", "config"): "build_chain reads config.Settings, not a section of its own",
    ("actions", "mail"): "the screened keyword KEYWORD is defined in mail/",
    ("parse.pool", "store"): "the process pool (an executor of the pass) lives in parse/ and records with the store",
    ("parse.pool", "policy"): "the process pool screens too: an executor of the pass, living in parse/",
}


def _unit_of(module: str) -> tuple[int, str]:
    """(layer, unit) of a dotted module name without the "inboxbot." prefix ("" for the package itself)."""
    best = None
    for level, units in enumerate(LAYERS):
        for unit in units:
            name = "" if unit == "inboxbot" else unit
            if module == name or (name and module.startswith(name + ".")):
                if best is None or len(name) > len(best[1]):
                    best = (level, name)
    assert best is not None, f"inboxbot.{module} stands nowhere in docs/architecture.md's picture: add it to LAYERS"
    return best


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The inboxbot modules a file imports (anywhere in it, type-checking blocks included), without the prefix."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            if node.module == "inboxbot" or (node.module or "").startswith("inboxbot."):
                base = node.module.removeprefix("inboxbot").removeprefix(".")
                for alias in node.names:
                    sub = f"{base}.{alias.name}".lstrip(".")
                    found.add(sub if sub in modules else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("inboxbot").removeprefix(".") for a in node.names
                      if a.name == "inboxbot" or a.name.startswith("inboxbot.")}
    return found


def _violations() -> dict[tuple[str, str], str]:
    """(importer, imported unit) -> what is wrong, for every import against the picture."""
    modules = _modules()
    out = {}
    for module, path in modules.items():
        level, unit = _unit_of(module)
        for imported in _imports(path, modules):
            their_level, their_unit = _unit_of(imported)
            if their_level > level:
                out[(module, their_unit)] = f"inboxbot.{module} imports inboxbot.{imported}, which stands above it"
            elif their_level == level and level in SIBLINGS_APART and their_unit != unit:
                out[(module, their_unit)] = f"stage inboxbot.{module} imports stage inboxbot.{imported}"
    return out


def test_no_module_imports_one_above_it():
    new = {k: v for k, v in _violations().items() if k not in KNOWN}
    assert not new, "layering broken (docs/architecture.md):\n" + "\n".join(new.values())


def test_every_known_exception_still_exists():
    fixed = set(KNOWN) - set(_violations())
    assert not fixed, f"fixed, so take them off KNOWN: {sorted(fixed)}"


def test_the_check_sees_an_import_that_runs_back_up(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from inboxbot.worker import Worker\nimport inboxbot.store\nfrom inboxbot import parse\n")
    imported = _imports(probe, _modules())
    assert imported == {"worker", "store", "parse"}
    assert _unit_of("parse.linkedin") == (3, "parse") and _unit_of("notes.language") == (0, "notes.language")
    assert _unit_of("worker")[0] > _unit_of("store")[0] > _unit_of("parse")[0] > _unit_of("model")[0]
