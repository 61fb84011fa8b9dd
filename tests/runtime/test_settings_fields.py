"""The settings file's [topic] fields: read, checked, and kept when the monitor rewrites
the file for a limit change."""

from __future__ import annotations

from pathlib import Path

from producer.fields import Fields
from tui.runtime import settings as config


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


def test_without_fields_the_file_has_no_topic_table() -> None:
    assert "[topic]" not in config.dumps(config.Settings())
