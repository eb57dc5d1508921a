"""`mmdg-bench report` on hand-written run folders (no training): every `compare` table, sortable; the
figures as inline SVG; each run's provenance; nothing fetched from the network; one-sentence errors."""

import html
import json
import re
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from mmdg_bench import api
from mmdg_bench.cli import app
from mmdg_bench.errors import UserError
from mmdg_bench.results.collect import collect_runs
from mmdg_bench.results.report import compact_svg
from mmdg_bench.results.tables import compare_report
from tests.results.test_plots import write_run

FIGURES = 5  # accuracy, per-modality accuracy, gradient cosine, GMP's coefficients of video and of audio
STRATEGIES = {"baseline": 50.0, "pcgrad": 40.0, "gmp": 60.0}  # fused target accuracy: sorting reorders them


def finished_run(root, strategy: str, target: str, seed: int, fused: float):
    """A finished run folder with what `compare` reads (selection) and the provenance a run records."""
    folder = write_run(root, strategy, target, seed, [fused - 5, fused])
    summary = json.loads((folder / "summary.json").read_text())
    heads = {"fused": fused, "video": fused - 5, "audio": fused - 10, "loss": 1.0}
    summary["selection"] = {rule: {"epoch": 2, "val": {**heads, "fused": fused + 10}, "target": heads}
                            for rule in ("best-val", "last")}
    summary["environment"] = {"torch": "9.9.9+test", "device": "cpu", "threads": 2}
    summary["wall_s"] = 12.5 + seed
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def write_results(root):
    for strategy, fused in STRATEGIES.items():
        for seed in (0, 1):
            for i, target in enumerate(("day", "night")):
                finished_run(root, strategy, target, seed, fused + seed + i)
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("report") / "runs")


@pytest.fixture(scope="module")
def page(results):
    out = api.report(results, results.parent / "report.html")
    return out.read_text()


class Elements(HTMLParser):
    """Tags with their attributes, and each table's caption and header texts."""

    def __init__(self):
        super().__init__()
        self.tags, self.tables, self.where = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.where.append(tag)
        if tag == "table":
            self.tables.append({"class": dict(attrs).get("class"), "caption": "", "headers": [], "buttons": 0})
        if tag == "button" and "th" in self.where:
            self.tables[-1]["buttons"] += 1

    def handle_endtag(self, tag):
        while self.where and self.where.pop() != tag:
            pass

    def handle_data(self, data):
        if "caption" in self.where:
            self.tables[-1]["caption"] += data
        elif "th" in self.where:
            self.tables[-1]["headers"].append(data)


def parsed(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


def test_every_compare_table_is_there_with_its_caption_and_sortable_headers(results, page):
    groups = compare_report(collect_runs(results)[0], "best-val", reference="paper")
    tables = parsed(page).tables
    captions = [t["caption"] for t in tables]
    for table in (t for g in groups for t in g.tables):
        assert table.title in captions, table.title
        shown = tables[captions.index(table.title)]
        assert shown["headers"] == [table.text.index.name or "strategy", *table.text.columns]
        if table.caption:
            assert f'<p class="caption">{html.escape(table.caption)}</p>' in page
    for group in groups:
        assert group.label in page
    for table in tables:  # leaderboards and the runs tables alike: every header sorts
        assert table["class"] == "sortable" and table["buttons"] == len(table["headers"]) > 0
    assert "<script>" in page and "aria-sort" in page


def test_the_figures_are_inline_svg_of_non_zero_size_with_ids_of_their_own(page):
    svgs = re.findall(r"<svg\b[^>]*>", page)
    assert len(svgs) == FIGURES
    for tag in svgs:
        width, height = (float(re.search(rf'{side}="([\d.]+)pt"', tag).group(1)) for side in ("width", "height"))
        assert width > 100 and height > 100, tag
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two elements share an id: one figure's clip paths would clip another's"
    for reference in re.findall(r'(?:href="|url\()#([^")]+)', page):
        assert reference in ids, f"#{reference} refers to nothing"


def test_each_runs_provenance_is_one_click_away(results, page):
    details = re.findall(r"<details>.*?</details>", page, re.S)
    assert len(details) == 1  # one group
    folders = sorted(p.name for p in results.iterdir())
    assert len(folders) == 12
    for folder in folders:
        assert folder in details[0]
    for shown in ("9.9.9+test", "config hash", "abc", "wall time (s)", "12.50", "13.50", "cpu"):
        assert shown in details[0], shown


def test_nothing_is_fetched_when_the_report_is_opened(page):
    for tag, attrs in parsed(page).tags:
        for name in ("src", "href"):
            assert not (attrs.get(name) or "").startswith(("http://", "https://", "//")), (tag, attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet"), attrs
        assert not (tag == "script" and "src" in attrs), attrs
    assert "@import" not in page and "url(http" not in page


def test_the_protocol_selection_rule_and_every_note_are_stated(results, page):
    assert "best source-validation epoch" in page and "sign-flip" in page and "Δ vs baseline" in page
    (group,) = compare_report(collect_runs(results)[0], "best-val", reference="paper")
    assert group.notes and any("paper" in note for note in group.notes)  # --reference paper: why no published row
    for note in group.notes:
        assert f"<li>{html.escape(note)}</li>" in page, note


def test_missing_and_unreadable_runs_are_noted(tmp_path):
    root = write_results(tmp_path / "runs")
    for folder in root.glob("*gmp__night__seed1*"):
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    broken = finished_run(root, "gmp", "night", 7, 60.0)
    (broken / "summary.json").write_text("{not json")
    page = api.report(root, tmp_path / "report.html").read_text()
    notes = re.findall(r'<div class="notes">.*?</div>', page, re.S)
    assert any("could not be read" in n and broken.name in n for n in notes), notes
    assert any("missing" in n and "night" in n for n in notes), notes


def test_compact_svg_keeps_only_referenced_ids_prefixed_and_shortens_coordinates():
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="10pt" height="5pt">\n <metadata>x</metadata>'
           '<g id="figure_1">\n  <clipPath id="p1"><rect/></clipPath>'
           '<path id="m2" d="M 1.234567 2.5 \nL 3.98765 4"/><use xlink:href="#m2" clip-path="url(#p1)"/></g></svg>')
    assert compact_svg(svg, "fig7-") == (
        '<svg width="10pt" height="5pt"><g><clipPath id="fig7-p1"><rect/></clipPath>'
        '<path id="fig7-m2" d="M 1.2 2.5 L 3.9 4"/><use xlink:href="#fig7-m2" clip-path="url(#fig7-p1)"/></g></svg>')


def test_an_out_that_is_a_folder_or_in_a_missing_folder_is_refused_before_any_work(results, tmp_path):
    with pytest.raises(UserError, match="is a folder"):
        api.report(results, tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        api.report(results, tmp_path / "nowhere" / "report.html")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file"):
        api.report(results, tmp_path / "file" / "report.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no finished runs"):
        api.report(tmp_path / "empty", tmp_path / "r.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file"]


def test_the_command_says_one_sentence_and_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path)])
    message = result.stderr.strip()
    assert result.exit_code == 2 and message.startswith("error:") and "\n" not in message and "is a folder" in message
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "no finished runs" in result.stderr and "Traceback" not in result.output


def test_a_failure_while_building_leaves_the_previous_report_whole(results, tmp_path, monkeypatch):
    out = tmp_path / "report.html"
    out.write_text("previous report")

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr("mmdg_bench.results.report.draw_figures", broken)
    with pytest.raises(RuntimeError):
        api.report(results, out)
    assert out.read_text() == "previous report" and [p.name for p in tmp_path.iterdir()] == ["report.html"]
