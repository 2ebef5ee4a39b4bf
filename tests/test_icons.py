"""Icons a classroom PC can draw: no emoji anywhere in the pages' text (page icons, message icons,
button labels, titles), and every icon is one of the Material Symbols that Streamlit ships with its
frontend (so it needs neither an emoji font nor the internet). Read with `ast`, so a new page is
checked as soon as it exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from streamlit.material_icon_names import ALL_MATERIAL_ICONS

from pages.parts import icons

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([ROOT / "app.py", *(ROOT / "pages").rglob("*.py")])
# pictographs, dingbats, arrows-and-symbols blocks, and the joiners/selectors that build emoji
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\uFE0F\u200D]")
MATERIAL = re.compile(r":material/([a-z0-9_]+):")


def strings(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_emoji_in_any_string_a_page_shows(path):
    found = [(line, text) for line, text in strings(ast.parse(path.read_text())) if EMOJI.search(text)]
    assert not found, f"{path.relative_to(ROOT)}: emoji at {found}: use pages/parts/icons.py"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_icon_argument_is_a_name_from_the_icons_module(path):
    """`icon=` / `page_icon=` never take a literal: one place names each icon."""
    literal = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in ("icon", "page_icon") and isinstance(kw.value, (ast.Constant, ast.JoinedStr)):
                    literal.append(node.lineno)
    assert not literal, f"{path.relative_to(ROOT)}: icon literals at lines {literal}"


def test_the_icons_are_material_symbols_that_streamlit_ships():
    names = {name: value for name, value in vars(icons).items() if name.isupper()}
    values = [v for v in names.values() if isinstance(v, str)] + list(icons.STATUS.values())
    assert len(values) > 20
    for value in values:
        match = MATERIAL.fullmatch(value)
        assert match, value
        assert match.group(1) in ALL_MATERIAL_ICONS, f"{value} is not in Streamlit's Material Symbols"


def test_the_checks_catch_an_emoji_and_a_literal_icon():
    tree = ast.parse('st.info("hi", icon="⚠️")\nst.button("🔥 Go")')
    assert sorted(t for _, t in strings(tree) if EMOJI.search(t)) == ["⚠️", "🔥 Go"]
    assert MATERIAL.fullmatch(icons.status("completed")) and icons.status("no such status") == ""
