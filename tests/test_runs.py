"""Every config shipped in runs/ passes the validation of the command it is written for, so a
config renamed or edited by hand cannot break silently until someone runs it for hours."""

from pathlib import Path

import pytest

from llgsim.learn.data_config import parse_data_config
from llgsim.learn.train_config import parse_train_config
from llgsim.run.schema import parse_config

RUNS = Path(__file__).resolve().parents[1] / "runs"
#: file-name prefix -> the parser of the command that reads it (generate, train, run)
PARSERS = {"data_": parse_data_config, "train_": parse_train_config}


@pytest.mark.parametrize("path", sorted(RUNS.glob("**/*.toml")), ids=lambda p: p.name)
def test_shipped_config_validates(path):
    parse = next((p for prefix, p in PARSERS.items() if path.name.startswith(prefix)),
                 parse_config)
    parse(path.read_text())
