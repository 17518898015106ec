"""The Colab install cell: every notebook has the same one, derived from settings.ini, and its exact command works.
It installs the release (`repo==version`, here from a local wheel index) and, when no release is found, the
repository at `git_url@branch` (here a `git+file://` clone, by git's `url.<base>.insteadOf`). Offline: pip reads only
the local index, and torch and the other requirements come from the running environment (`--system-site-packages`)."""
import ast, base64, hashlib, json, os, subprocess, sys, venv, zipfile
from configparser import ConfigParser
from importlib.metadata import distribution
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def settings():
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']

def colab_cells():
    "{notebook name: source of its Colab install cell}; a notebook without one maps to None."
    out = {}
    for p in sorted((ROOT / 'nbs').glob('*.ipynb')):
        cells = [''.join(c['source']) for c in json.loads(p.read_text(encoding='utf-8'))['cells']
                 if c['cell_type'] == 'code' and 'google.colab' in ''.join(c['source'])]
        assert len(cells) <= 1, f'{p.name}: {len(cells)} Colab cells'
        out[p.name] = cells[0] if cells else None
    return out

def colab_command(cell):
    "The shell command that the cell runs on Colab (the argument of `get_ipython().system`)."
    calls = [n for n in ast.walk(ast.parse(cell)) if isinstance(n, ast.Call) and getattr(n.func, 'attr', '') == 'system']
    assert len(calls) == 1, 'the Colab cell must run exactly one shell command'
    return ast.literal_eval(calls[0].args[0])

def test_every_notebook_has_the_same_colab_cell():
    cells = colab_cells()
    missing = [n for n, c in cells.items() if c is None]
    assert not missing, f'no Colab install cell in {missing}'
    assert len(set(cells.values())) == 1, 'the Colab cells differ: regenerate them from settings.ini'
    cell = next(iter(cells.values()))
    assert cell.startswith('#| hide\n'), 'the Colab cell is hidden in the docs'
    c, cmd = settings(), colab_command(cell)
    release, repo = cmd.split(' || ')
    fc = next(r for r in c['dev_requirements'].split() if r.startswith('fastcore'))   # the test cells' pin, e.g. fastcore<2
    assert release == f'pip install -q "{fc}" "{c["repo"]}=={c["version"]}"', release
    assert repo == f'pip install -q "{fc}" "{c["repo"]} @ git+{c["git_url"]}@{c["branch"]}"', repo

def _wheel_of_installed(name, dest):
    "Pack the installed pure-Python distribution `name` into a wheel in `dest` (an offline index needs its file)."
    d = distribution(name)
    skip = ('INSTALLER', 'RECORD', 'REQUESTED', 'direct_url.json')
    files = [f for f in d.files if not str(f).startswith('..') and f.suffix != '.pyc' and f.name not in skip]
    whl = Path(dest) / f"{d.metadata['Name']}-{d.version}-py3-none-any.whl"
    info, record = f"{d.metadata['Name']}-{d.version}.dist-info", []
    with zipfile.ZipFile(whl, 'w') as z:
        for f in files:
            data = d.locate_file(f).read_bytes(); z.writestr(str(f), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
            record.append(f'{f},sha256={digest},{len(data)}')
        z.writestr(f'{info}/RECORD', '\n'.join(record + [f'{info}/RECORD,,']) + '\n')
    return whl

def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f'{cmd}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r.stdout

@pytest.fixture(scope='module')
def clone(tmp_path_factory):
    "A clone of the repository (its committed state) with `branch` at HEAD, as on GitHub."
    d = tmp_path_factory.mktemp('repo') / 'dynpat-nb'
    _run(['git', 'clone', '-q', str(ROOT), str(d)])
    _run(['git', '-C', str(d), 'update-ref', f"refs/heads/{settings()['branch']}", 'HEAD'])
    return d

@pytest.fixture(scope='module')
def index(tmp_path_factory, clone):
    "A local wheel index with fastcore, the one requirement the cell names besides the package."
    d = tmp_path_factory.mktemp('index')
    _wheel_of_installed('fastcore', d)
    return d

def _colab(tmp_path, index, extra_env=None):
    "Run the Colab cell's exact command in a fresh venv (it sees this environment's torch etc.); the venv's python."
    env_dir = tmp_path / 'venv'
    venv.create(env_dir, with_pip=True, system_site_packages=True)
    bin_ = env_dir / 'bin'
    _run([str(bin_ / 'python'), '-m', 'pip', 'uninstall', '-y', '-q', 'setuptools'])   # build with this env's newer one
    env = {**os.environ, 'PATH': f"{bin_}{os.pathsep}{os.environ['PATH']}", 'VIRTUAL_ENV': str(env_dir),
           'PIP_NO_INDEX': '1', 'PIP_FIND_LINKS': str(index), 'PIP_DISABLE_PIP_VERSION_CHECK': '1',
           'PIP_NO_DEPS': '1', 'PIP_FORCE_REINSTALL': '1',   # install into the venv even though this env has them
           'PIP_NO_BUILD_ISOLATION': '0',   # pip's spelling of --no-build-isolation (the build tools are here)
           **(extra_env or {})}
    env.pop('PYTHONPATH', None)
    cmd = colab_command(next(iter(colab_cells().values())))
    _run(['bash', '-c', cmd], env=env, cwd=tmp_path)
    py = str(bin_ / 'python')
    code = ("import sys; from importlib.metadata import requires, version; from packaging.requirements import Requirement; "
            "reqs = [r for r in map(Requirement, requires('dynpat-nb')) if not r.marker]; "   # what it requires is there
            "bad = [str(r) for r in reqs if not r.specifier.contains(version(r.name), prereleases=True)]; assert not bad, bad; "
            "import dynpat_nb, fastcore, fastcore.test, dynpat_nb.core; "
            "assert dynpat_nb.__file__.startswith(sys.prefix), dynpat_nb.__file__; "
            "assert fastcore.__file__.startswith(sys.prefix), fastcore.__file__; "
            "from importlib.metadata import distribution; print(dynpat_nb.__version__, distribution('dynpat-nb').read_text('direct_url.json'))")
    version, source = _run([py, '-c', code], env=env, cwd=tmp_path).strip().split(' ', 1)
    return version, (None if source == 'None' else json.loads(source))   # direct_url.json: where pip took it from

def test_colab_cell_installs_the_release(tmp_path, clone, index):
    "The release half: `repo==version` from an index that has the wheel (built from the clone)."
    _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(tmp_path / 'whl'), str(clone)])
    whl, = (tmp_path / 'whl').glob('*.whl')
    rel = tmp_path / 'index'; rel.mkdir()
    for f in [*Path(index).iterdir(), whl]: (rel / f.name).write_bytes(f.read_bytes())
    nowhere = {'GIT_CONFIG_COUNT': '1', 'GIT_CONFIG_KEY_0': f"url.file://{tmp_path / 'none'}.insteadOf",
               'GIT_CONFIG_VALUE_0': settings()['git_url']}      # the repository half cannot succeed here
    assert _colab(tmp_path, rel, nowhere) == (settings()['version'], None)   # from the index, not a URL

def test_colab_cell_falls_back_to_the_repository(tmp_path, clone, index):
    "No release on the index: the cell installs the repository at `branch` from its git URL (here the clone)."
    url = settings()['git_url']
    git = {'GIT_CONFIG_COUNT': '1', 'GIT_CONFIG_KEY_0': f'url.file://{clone}.insteadOf', 'GIT_CONFIG_VALUE_0': url}
    version, source = _colab(tmp_path, index, git)
    head = _run(['git', '-C', str(clone), 'rev-parse', 'HEAD']).strip()
    assert version == settings()['version'] and source['vcs_info']['commit_id'] == head, source
