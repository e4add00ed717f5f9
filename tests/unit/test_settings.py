"""Settings: declared once, overridden by luigi.cfg and then by the environment, listed with their source."""

from __future__ import annotations

import sys
from dataclasses import fields

from support import clean_environ, run

from pipeline.config import Settings, pipeline


def settings_listing(tmp_path, cfg: str, **env: str) -> dict[str, tuple[str, str]]:
    """``python -m pipeline settings`` under luigi.cfg text ``cfg``: name -> (value, source)."""
    config = tmp_path / "luigi.cfg"
    config.write_text(cfg)
    env = clean_environ() | {"LUIGI_CONFIG_PATH": str(config), **env}
    out = run([sys.executable, "-m", "pipeline", "settings"], env=env, cwd=tmp_path, check=True).stdout
    listing = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            name, rest = line.split(" = ", 1)
            value, source = rest.rsplit("    [", 1)
            listing[name] = (value, source.rstrip("]"))
    return listing


def test_every_setting_is_a_luigi_parameter_with_its_default_and_description():
    params = dict(pipeline.get_params())
    assert set(params) == {f.name for f in fields(Settings)}
    for f in fields(Settings):
        assert f.metadata["description"], f.name
        assert params[f.name].description == f.metadata["description"]


def test_environment_beats_luigi_cfg_beats_default(tmp_path):
    cfg = "[pipeline]\ndata_dir = from-cfg\ndate_order = dmy\nunknown_strict = true\ndbt_threads = 3\n"
    listing = settings_listing(tmp_path, cfg, PIPELINE_DATA_DIR=str(tmp_path / "from-env"))
    assert listing["data_dir"] == (str(tmp_path / "from-env"), "env PIPELINE_DATA_DIR")
    assert listing["date_order"] == ("DMY", "luigi.cfg")  # normalised
    assert listing["unknown_strict"] == ("True", "luigi.cfg")
    assert listing["dbt_threads"] == ("3", "luigi.cfg")
    default = {f.name: f.default for f in fields(Settings)}["duckdb_memory_limit"]
    assert listing["duckdb_memory_limit"] == (default, "default")
    assert listing["source"][1] == "default" and listing["source"][0].startswith("https://")


def test_the_listing_never_shows_the_dsn_password(tmp_path):
    listing = settings_listing(tmp_path, "[pipeline]\n", PIPELINE_PG_DSN="postgresql://etl:s3cret@db/retail")
    assert listing["pg_dsn"][1] == "env PIPELINE_PG_DSN"
    assert "s3cret" not in listing["pg_dsn"][0] and "etl" in listing["pg_dsn"][0]
