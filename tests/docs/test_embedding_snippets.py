"""docs/embedding.md's torchreid snippet runs offline as written, with torchreid itself (the
PyPI release, a `dev` dependency): on a small world, one epoch, no network."""
import re
import socket
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"


def snippet(heading: str) -> str:
    """The first ```python block after `heading` in docs/embedding.md."""
    text = DOC.read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(heading):], re.S)[1]


@pytest.fixture
def offline(monkeypatch):
    """No network connection; local (Unix) sockets stay open: the loader's source worker
    processes come from multiprocessing's fork server, reached through one."""
    connect = socket.socket.connect

    def refuse(self, address):
        if self.family != socket.AF_UNIX:
            raise OSError(f"the snippet tried to connect to {address}")
        return connect(self, address)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.slow
def test_the_torchreid_snippet_trains_and_tests_offline(small_world, tmp_path, monkeypatch, offline, capsys):
    pytest.importorskip("torchreid", reason="torchreid is in the dev extra: pip install -e '.[cuda13,dev]'")
    code = snippet("## torchreid")
    for written, here in (('"data/synth/manifest.csv", "256x128"', f'r"{small_world}", "64x32"'),
                          ("max_epoch=120, eval_freq=40", "max_epoch=1, eval_freq=1")):
        assert written in code, f"docs/embedding.md no longer has {written!r}: update this test"
        code = code.replace(written, here)
    monkeypatch.chdir(tmp_path)  # save_dir="log"
    exec(compile(code, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "=> Final test" in out and re.search(r"mAP: \d+\.\d%", out)
    assert any((tmp_path / "log").rglob("model.pth.tar-1"))
