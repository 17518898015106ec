"""`python -m build` makes a wheel and an sdist; the wheel installs into a fresh venv, imports, and `dynpat demo` runs."""
import json, os, subprocess, sys, zipfile, tarfile, venv
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    r = subprocess.run([sys.executable, '-m', 'build', '--outdir', str(out), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out

def test_wheel_and_sdist_contents(dist):
    whl, = dist.glob('*.whl'); sdist, = dist.glob('*.tar.gz')
    names = zipfile.ZipFile(whl).namelist()
    mods = sorted(p.name for p in (ROOT / 'dynpat_nb').glob('*.py'))
    for m in mods: assert f'dynpat_nb/{m}' in names, m
    meta = zipfile.ZipFile(whl).read([n for n in names if n.endswith('METADATA')][0]).decode()
    for req in ('torch', 'numpy', 'imageio', 'tqdm'): assert f'Requires-Dist: {req}' in meta, req
    assert any(n.endswith('settings.ini') for n in tarfile.open(sdist).getnames())

def test_wheel_installs_in_fresh_venv(dist, tmp_path):
    whl, = dist.glob('*.whl')
    env = tmp_path / 'venv'
    venv.create(env, with_pip=True, system_site_packages=True)   # reuse the installed torch: no multi-GB download
    py = env / 'bin' / 'python'
    r = subprocess.run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', '--force-reinstall', str(whl)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    code = ("import dynpat_nb, dynpat_nb.langevin as L, torch; "
            "assert 'site-packages' in dynpat_nb.__file__, dynpat_nb.__file__; "
            "r = L.langevin(lambda x: (x**2).sum(1)/2, torch.zeros(8, 2), 5, 0.1); print(r.x.shape)")
    r = subprocess.run([str(py), '-c', code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'torch.Size([8, 2])' in r.stdout
    # the console script of the installed wheel runs the main job (a few iterations)
    r = subprocess.run([str(env / 'bin' / 'dynpat'), 'demo', '--iters', '2', '--out', str(tmp_path / 'demo'), '--quiet'],
                       capture_output=True, text=True, cwd=tmp_path, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary['command'] == 'demo' and all(Path(f).exists() for f in summary['videos'])
