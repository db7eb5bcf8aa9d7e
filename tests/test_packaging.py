"""The Docker image is built from what the Dockerfile copies: everything the package needs must be among it."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _copied() -> list[Path]:
    sources = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        m = re.match(r"COPY\s+(.+)\s+\S+$", line.strip())
        if m:
            sources += [ROOT / s for s in m.group(1).split()]
    return sources


def test_the_image_has_every_file_the_package_links_to():
    copied = _copied()
    assert ROOT / "inboxbot" in copied and ROOT / "pyproject.toml" in copied
    links = [p for p in (ROOT / "inboxbot").rglob("*") if p.is_symlink()]
    for link in links:
        target = link.resolve()
        assert any(target == c or c in target.parents for c in copied), f"{link} -> {target} is not copied"
