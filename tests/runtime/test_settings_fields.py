"""The settings file's [topic] fields: read, checked, and kept when the monitor rewrites
the file for a limit change."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from producer.fields import Fields
from tui.runtime import settings as config
from tui.runtime.headless import fields_of
from tui.runtime.options import OptionError


def test_fields_in_the_settings_file_are_read_and_kept_on_save(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[topic]\nfields = "symbol=s,price=p,ts=T:ms"\n')
    settings, problems = config.load(path)
    assert problems == []
    assert settings.fields == Fields("s", "p", "T", "ms")
    config.save(path, settings.with_limits("BTCUSDT", 40000.0, 45000.0))  # a limit key
    again, problems = config.load(path)
    assert problems == []
    assert again.fields == settings.fields and again.limits == {"BTCUSDT": (40000.0, 45000.0)}


def test_a_mapping_that_cannot_work_is_a_problem_and_the_rest_still_loads() -> None:
    settings, problems = config.loads(
        '[monitor]\nstep = 0.01\n[topic]\nfields = "symbol=s,price=@key"\n', "c.toml"
    )
    assert settings.fields is None and settings.step == 0.01
    assert problems and problems[0].startswith("c.toml: topic.fields: price=@key")
    _settings, problems = config.loads("[topic]\nfields = 3\n", "c.toml")
    assert problems and "topic.fields" in problems[0]


def test_a_topic_that_is_no_table_is_a_problem_of_the_mapping() -> None:
    """`topic = "..."` or `[[topic]]` were passed over without a word: the mapping
    meant was silently not read, and every message refused."""
    for text in ('topic = "symbol=s"\n', '[[topic]]\nfields = "symbol=s"\n'):
        settings, problems = config.loads(text, "c.toml")
        assert settings.fields is None
        assert problems == [
            "c.toml: topic.fields cannot be read: [topic] must be a table, such as [topic] "
            'then fields = "symbol=s,price=p,ts=T:ms" on the next line'
        ], problems


def test_a_file_nested_too_deeply_is_a_problem_not_a_crash() -> None:
    """tomllib reads nested arrays by recursion: 5,000 of them raised RecursionError, a
    traceback where the monitor should have started on the defaults."""
    text = "[monitor]\npinned = " + "[" * 5000 + "]" * 5000 + "\n"
    settings, problems = config.loads(text, "deep.toml")
    assert settings == config.Settings()
    assert problems == ["deep.toml: nested too deeply to be a settings file; using the defaults"]


def test_without_fields_the_file_has_no_topic_table() -> None:
    assert "[topic]" not in config.dumps(config.Settings())


def test_a_table_or_setting_limitwatch_does_not_know_is_a_problem() -> None:
    settings, problems = config.loads(
        '[topic]\nfields = "symbol=s,price=p,ts=T:ms"\nbogus = 1\n[nonsense]\nx = 1\n'
        "[monitor]\nstepp = 0.01\n",
        "c.toml",
    )
    assert settings.fields == Fields("s", "p", "T", "ms")  # the rest still loads
    assert any("topic.bogus is not a setting" in p for p in problems), problems
    assert any("[nonsense] is not a table" in p for p in problems), problems
    assert any("monitor.stepp is not a setting" in p for p in problems), problems
    # What the monitor writes loads without a word.
    written = config.dumps(config.Settings(fields=settings.fields).with_limits("X", 1.0, 2.0))
    assert config.loads(written, "c.toml")[1] == []


def test_a_headless_command_stops_on_a_config_file_it_cannot_read(tmp_path: Path) -> None:
    def fields(path: Path) -> object:
        return fields_of(argparse.Namespace(fields=None, config=path))

    bad = tmp_path / "bad.toml"
    bad.write_text("this is [not toml\n")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[nonsense]\nx = 1\n")
    for path, said in (
        (bad, "bad.toml: Expected"),
        (unknown, "[nonsense] is not a table"),
        (tmp_path / "missing.toml", "missing.toml: no such file"),
        (tmp_path, "a folder"),
    ):
        with pytest.raises(OptionError) as caught:
            fields(path)
        assert said in str(caught.value), str(caught.value)
        assert "using the defaults" not in str(caught.value)
    good = tmp_path / "good.toml"
    good.write_text('[topic]\nfields = "symbol=s,price=p,ts=T:ms"\n')
    assert fields(good) == Fields("s", "p", "T", "ms")
