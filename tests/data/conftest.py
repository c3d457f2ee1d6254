import pytest

from genlab.data import paths


@pytest.fixture
def data_dirs(tmp_path, monkeypatch):
    """Point every dataset lookup folder at empty folders under tmp_path; returns them."""
    env, home, system = tmp_path / "env", tmp_path / "home", tmp_path / "system"
    for d in (env, home, system):
        d.mkdir()
    monkeypatch.setenv("GENLAB_DATA", str(env))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(paths, "SYSTEM_DIR", system)
    monkeypatch.delenv("GENLAB_OFFLINE", raising=False)
    return {"env": env, "home": home, "system": system}
