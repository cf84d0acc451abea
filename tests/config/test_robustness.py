"""Whatever a configuration file holds, loading it ends in settings or ConfigErrors, never a crash."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from callcenter.settings import ConfigErrors, load_settings

MINIMAL = Path(__file__).parent / "data" / "minimal"
SHIPPED = Path(__file__).resolve().parents[2] / "config"

KEYS = st.sampled_from(["queues", "support", "members", "agents", "skills", "rules", "match", "ladder",
                        "require", "for", "id", "queue", "overflow", "after", "to", "hours", "name",
                        "server", "http_port", "weekly", "mon-fri", "timezone", "closed", "voice", "x"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.sampled_from(
    ["30s", "0s", "billing", "support", "alice", "billing >= 4", "09:00-17:00", "", "UTC", "voice"]))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
FILES = st.sampled_from(["skills.yaml", "agents.yaml", "queues.yaml", "routing.yaml", "server.yaml",
                         "hours.yaml", "channels.yaml", "codes.yaml", "tiers.yaml"])


@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=FILES, tree=TREES)
def test_random_trees_give_settings_or_config_errors(tmp_path_factory, name, tree):
    """Random structures in any file are reported as ConfigErrors with places, not exceptions."""
    root = tmp_path_factory.mktemp("cfg")
    shutil.copytree(MINIMAL, root, dirs_exist_ok=True)
    (root / name).write_text(yaml.safe_dump(tree))
    try:
        load_settings(root)
    except ConfigErrors as exc:
        assert all(e.line >= 1 and e.column >= 1 and e.file.startswith(str(root)) for e in exc.errors)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=2000), junk=st.sampled_from(["", "{", "]", ": :", "\t", "&a *b"]))
def test_truncated_shipped_files_never_crash(tmp_path_factory, cut, junk):
    """A shipped file cut short anywhere (plus junk) loads or fails with ConfigErrors."""
    root = tmp_path_factory.mktemp("cfg")
    shutil.copytree(SHIPPED, root, dirs_exist_ok=True)
    path = root / ("queues.yaml" if cut % 2 else "routing.yaml")
    text = path.read_text()
    path.write_text(text[:cut % (len(text) + 1)] + junk)
    try:
        load_settings(root)
    except ConfigErrors:
        pass
