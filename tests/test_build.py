"""`python -m build` makes a wheel and an sdist; the wheel installs into a fresh venv, imports, and `dynpat demo` runs.
README.md is generated from `nbs/index.ipynb` (settings.ini's `readme_nb`) by `readme()`: `python tests/test_build.py`
rewrites it, and `test_readme_matches_index` fails when the two disagree."""
import json, os, re, subprocess, sys, zipfile, tarfile, venv
from configparser import ConfigParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_COMMAND = 'pip install -e ".[dev]" && nbdev_test --n_workers 2 --timing && pytest -q tests'

def settings():
    "The `[DEFAULT]` section of settings.ini."
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']

def _directives(source):
    "The `#| ...` directive words of a cell, and its source without them."
    lines = source.splitlines()
    flags = {w for l in lines if l.startswith('#|') for w in l[2:].replace(':', ' ').split()}
    return flags, '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')

def readme(nb_path=None):
    """README.md from the readme notebook, as nbdev's gfm render gives it in substance: the title cell (title and
    subtitle), markdown cells as they are, shown code cells as fenced Python blocks followed by their printed text;
    hidden cells and rich outputs (animations, figures) left out. Links to notebooks point at them on GitHub."""
    c = settings()
    nb = json.loads((nb_path or ROOT / c['nbs_path'] / c['readme_nb']).read_text(encoding='utf-8'))
    blob = f"{c['git_url']}/blob/{c['branch']}/{c['nbs_path']}/"
    parts = []
    for cell in nb['cells']:
        flags, text = _directives(''.join(cell['source']))
        if 'hide' in flags or not text.strip(): continue
        if cell['cell_type'] == 'markdown':
            parts.append(re.sub(r'\]\((?!https?://)([\w.-]+\.ipynb)\)', lambda m: f']({blob}{m[1]})', text))
        elif cell['cell_type'] == 'code':
            parts.append(f'```python\n{text}\n```')
            printed = ''.join(''.join(o['text']) for o in cell.get('outputs', []) if o.get('output_type') == 'stream')
            if printed.strip(): parts.append(f'```\n{printed.rstrip()}\n```')
    return '\n\n'.join(parts) + '\n'

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

def test_readme_matches_index():
    assert (ROOT / 'README.md').read_text(encoding='utf-8') == readme(), \
        "README.md differs from nbs/index.ipynb: edit the notebook, then run `python tests/test_build.py`"

def test_readme_test_command():
    "The block that .ci/run executes is in the readme notebook, exactly."
    text = readme()
    block = re.search(r'<!-- test-command -->\n```sh\n(.*?)\n```\n<!-- /test-command -->', text, re.S)
    assert block and block[1] == TEST_COMMAND, 'the test-command block of nbs/index.ipynb changed'

def test_readme_links_absolute():
    "Images and notebook links resolve on the package index page too, where relative paths do not."
    links = re.findall(r'\]\(([^)\s]+)', readme())
    assert links and all(l.startswith('https://') for l in links), [l for l in links if not l.startswith('https://')]
    c = settings()
    assert f"{c['repo']} @ git+{c['git_url']}" in readme(), 'README must say how to install from the repository'

def test_readme_lists_the_course():
    "The course table names every numbered notebook, and only those that exist."
    listed = set(re.findall(r'^\| [^|]* \| \[`(\w+)`\]', readme(), re.M))
    have = {p.stem for p in (ROOT / 'nbs').glob('[0-9]*.ipynb')}
    assert listed == have, f'not in the course table: {sorted(have - listed)}; no such notebook: {sorted(listed - have)}'

def test_readme_render():
    "The render on a small notebook: hidden cells dropped, code fenced, printed text kept, notebook links made absolute."
    import tempfile
    cells = [dict(cell_type='markdown', source='# T\n\n> sub'), dict(cell_type='code', source='#| hide\nx = 1', outputs=[]),
             dict(cell_type='code', source='print(2)', outputs=[dict(output_type='stream', name='stdout', text='2\n')]),
             dict(cell_type='markdown', source='see [`a`](a.ipynb)')]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / 'i.ipynb'; p.write_text(json.dumps(dict(cells=cells)))
        c = settings()
        assert readme(p) == f"# T\n\n> sub\n\n```python\nprint(2)\n```\n\n```\n2\n```\n\nsee [`a`]({c['git_url']}/blob/{c['branch']}/nbs/a.ipynb)\n"

if __name__ == '__main__':
    (ROOT / 'README.md').write_text(readme(), encoding='utf-8')
    print('README.md regenerated from', settings()['readme_nb'])
