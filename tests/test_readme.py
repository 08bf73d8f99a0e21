"""Every Python block of README.md runs, in order, in one namespace (issue #11)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)  # `save_to_preset("my_encoder")` writes here
    namespace = {}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"README.md python block {number}", "exec")
        exec(code, namespace)  # noqa: S102 (the README is ours)
    assert namespace["vectors"].shape == (2, 64)
    assert (tmp_path / "my_encoder" / "config.json").is_file()
