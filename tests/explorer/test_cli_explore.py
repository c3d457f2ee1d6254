"""``genlab explore``: serves the page from the command line; a taken port is a one-line error, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from genlab.cli import main

pytest.importorskip("fastapi")
from genlab.explorer.server import bind


def test_port_in_use_exits_2(runs, capsys):
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    try:
        assert main(["explore", str(runs["vae"]), "--port", str(port)]) == 2
    finally:
        sock.close()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"port {port}" in err and "--port" in err


def test_bad_run_exits_2(tmp_path, capsys):
    assert main(["explore", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "genlab explore: error:" in capsys.readouterr().err


def test_serves_the_page(runs):
    sock = bind("127.0.0.1", 0)  # a free port, released for the child to take
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "genlab", "explore", str(runs["ae"]), str(runs["vae"]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/api/models", timeout=2) as r:
                    info = json.load(r)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else "timeout"
                time.sleep(0.2)
        assert info["groups"] == [{"kind": "latent", "runs": [0, 1]}]
        with urllib.request.urlopen(url + "/", timeout=5) as r:
            assert b"genlab explore" in r.read()
    finally:
        proc.terminate()
        proc.wait(10)
