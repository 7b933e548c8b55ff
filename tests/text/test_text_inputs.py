"""The text domain's inputs: the article and the rubric. Anything unusable is a usage error naming the
file and the fix, before a run directory is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.domains.text.article import MAX_ARTICLE_BYTES
from bilevel_evolve.domains.text.domain import DEFAULT_RUBRIC, EXAMPLE_ARTICLE, TextDomain
from bilevel_evolve.domains.text.rubric import parse_rubric
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.ground.errors import UsageError

RUBRIC = """# A rubric

Some words about it.

## Criteria

- words: 100-200 (weight 2)
- sections: Introduction; How it works
- reading grade: at most 9
- sentence length: average at most 18, longest at most 30
- required terms: cache hit, eviction
- banned terms: utilize, leverage (weight 0.5)
- clarity: every paragraph makes one point

## Notes

- this: is not a criterion
"""


def test_a_rubric_lists_measurable_and_judged_criteria_with_their_weights() -> None:
    rubric = parse_rubric(RUBRIC)
    by_id = {c.id: c for c in rubric.criteria}
    assert list(by_id) == ["words", "sections", "reading_grade", "sentence_length", "required_terms",
                           "banned_terms", "clarity"]
    assert (by_id["words"].low, by_id["words"].high, by_id["words"].weight) == (100, 200, 2)
    assert by_id["sections"].terms == ("Introduction", "How it works")
    assert by_id["reading_grade"].high == 9
    assert (by_id["sentence_length"].low, by_id["sentence_length"].high) == (18, 30)
    assert by_id["banned_terms"].terms == ("utilize", "leverage") and by_id["banned_terms"].weight == 0.5
    assert by_id["clarity"].kind == "judged" and not by_id["clarity"].measurable
    assert rubric.total({c.id: 10.0 for c in rubric.criteria}) == 10.0


@pytest.mark.parametrize(("text", "says"), [
    ("# Rubric\n\nJust prose, no criteria.\n", "has no criteria"),
    ("## Criteria\n\nNothing listed here.\n", "has no criteria"),
    ("## Criteria\n\n- words: many\n", "words needs a range"),
    ("## Criteria\n\n- words: 500-100\n", "is empty"),
    ("## Criteria\n\n- reading grade: simple\n", "reading grade needs"),
    ("## Criteria\n\n- clarity: plain\n- Clarity: again\n", "listed twice"),
    ("## Criteria\n\n- clarity: plain (weight 0)\n", "weight"),
])
def test_a_rubric_that_cannot_be_read_says_which_line_and_why(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse_rubric(text, "rubric r.md")


def _article(tmp_path: Path, data: bytes, name: str = "a.md") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("data", "says"), [
    (b"", "is empty"),
    (b"   \n\n", "is empty"),
    (b"\x89PNG\r\n\x1a\n\0\0\0IHDR", "is binary"),
    (b"caf\xe9 au lait\n", "not UTF-8"),
    (b"word " * (10 * 1024 * 1024 // 5), "at most"),  # 10 MB
])
def test_an_unusable_article_is_a_usage_error(tmp_path: Path, data: bytes, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        TextDomain(_article(tmp_path, data), DomainOptions(rubric=DEFAULT_RUBRIC))


def test_a_missing_article_or_rubric_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        TextDomain(tmp_path / "nowhere.md")
    article = _article(tmp_path, b"# T\n\nSome text.\n")
    with pytest.raises(UsageError, match=r"rubric .* does not exist"):
        TextDomain(article, DomainOptions(rubric=tmp_path / "none.md"))


def test_the_rubric_is_the_given_one_else_the_one_beside_the_article_else_the_default(tmp_path: Path) -> None:
    article = _article(tmp_path, b"# T\n\nSome text.\n", "post.md")
    assert TextDomain(article).rubric_file.path == DEFAULT_RUBRIC
    (tmp_path / "post.rubric.md").write_text("## Criteria\n\n- words: 1-10\n")
    assert [c.id for c in TextDomain(article).rubric.criteria] == ["words"]
    given = tmp_path / "other.md"
    given.write_text("## Criteria\n\n- reading grade: at most 8\n")
    assert [c.id for c in TextDomain(article, DomainOptions(rubric=given)).rubric.criteria] == ["reading_grade"]


def test_the_shipped_example_loads_by_name_and_its_article_is_judged_low(tmp_path: Path) -> None:
    domain = load_domain("text:example")
    assert isinstance(domain, TextDomain) and domain.article.path == EXAMPLE_ARTICLE
    judgement = domain.judge.judge(domain.article.text, seed=0)
    assert judgement.unscored == ("clarity",)  # only a model judges it
    assert set(judgement.scores) == {c.id for c in domain.rubric.measurable}
    assert all(0 <= s <= 10 for s in judgement.scores.values())
    assert judgement.total < 6  # the example is written to be improved


def test_an_offline_run_refuses_a_rubric_with_nothing_measurable(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    article = _article(tmp_path, b"# T\n\nSome text here.\n")
    rubric = tmp_path / "r.md"
    rubric.write_text("## Criteria\n\n- clarity: plain words\n")
    code = main(["run", "--domain", f"text:{article}", "--rubric", str(rubric), "--iterations", "2",
                 "--run-dir", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    assert "no measurable criteria" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_text_run_takes_one_worker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--domain", "text:example", "--iterations", "2", "--workers", "2",
                 "--run-dir", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    assert "one worker" in capsys.readouterr().err


def test_an_article_at_the_cap_is_taken(tmp_path: Path) -> None:
    sentence = b"A cache keeps data near. "
    data = b"# T\n\n" + sentence * ((MAX_ARTICLE_BYTES - 10) // len(sentence))
    assert TextDomain(_article(tmp_path, data), DomainOptions(rubric=DEFAULT_RUBRIC)).article.text
