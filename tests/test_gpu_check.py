"""benchmarks/gpu_check.py on a CPU machine: `--help`, the no-GPU one-liner (exit 2, no report), `--dry-run`'s stage
list and commands, the stage runner (JSON report, failures, timeouts, the global budget) with fake stages, the
notebook scan, and the in-process stages' timing and peak-memory helpers on tiny models."""
import importlib.util, json, os, subprocess, sys
from pathlib import Path
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / 'benchmarks' / 'gpu_check.py'
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
PY_STAGES = ['peak:descriptor', 'peak:recovery', 'learn:generator', 'learn:descriptor']
BENCHES = ['bench:abp', 'bench:descriptor', 'bench:conv3d', 'bench:langevin']

spec = importlib.util.spec_from_file_location('gpu_check', SCRIPT)
gc = importlib.util.module_from_spec(spec); sys.modules['gpu_check'] = gc; spec.loader.exec_module(gc)


def run(*args, timeout=60):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)


def test_help():
    p = run('--help')
    assert p.returncode == 0, p.stderr
    for word in ['--out', '--budget-s', '--dry-run', '480', 'nbdev_test --flags cuda', '3x70x224x224', '3x104x130x230',
                 'Exit status', *PY_STAGES]:
        assert word in p.stdout, word


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_no_gpu_one_line(tmp_path):
    out = tmp_path / 'r.json'
    p = run('--out', out)
    assert p.returncode == 2
    assert p.stdout == '' and p.stderr.strip().splitlines() == ["gpu_check: no CUDA device here; nothing to check"]
    assert not out.exists()
    p = run('--stage', 'learn:generator')                     # an in-process stage refuses too
    assert p.returncode == 2 and 'no CUDA device' in p.stderr


def test_dry_run_lists_every_stage():
    p = run('--dry-run')
    assert p.returncode == 0, p.stderr
    names = [l.split()[0] for l in p.stdout.splitlines() if l[:1] not in (' ', '') and ':' in l.split()[0]]
    cuda_nbs = sorted(nb.name for nb in (ROOT / 'nbs').glob('*.ipynb')
                      if any(c['cell_type'] == 'code' and '#| cuda' in ''.join(c['source']) for c in json.loads(nb.read_text())['cells']))
    assert cuda_nbs, "no notebook has a #| cuda cell"
    assert names == [f'nbtest:{n}' for n in cuda_nbs] + PY_STAGES + BENCHES
    assert p.stdout.count('--device cuda') == len(BENCHES)
    assert f"{len(names)} stages" in p.stdout.splitlines()[-1]


def test_bench_options_exist():
    "Every option gpu_check passes to a benchmark is one that benchmark's argparse defines."
    for st in gc.stages():
        if not st.name.startswith('bench:'): continue
        src = (ROOT / st.cmd[1]).read_text()
        for opt in (a for a in st.cmd[2:] if a.startswith('--')):
            assert f"'{opt}'" in src, (st.name, opt)


def test_cuda_notebooks_scan(tmp_path):
    nb = lambda *cells: json.dumps({'cells': [{'cell_type': t, 'source': s} for t, s in cells]})
    (tmp_path / 'a.ipynb').write_text(nb(('code', ['#| cuda\n', 'x = 1'])))
    (tmp_path / 'b.ipynb').write_text(nb(('markdown', '#| cuda is a flag'), ('code', 'y = 2')))
    (tmp_path / 'c.ipynb').write_text(nb(('code', '#|cuda\nz = 3')))
    assert [p.name for p in gc.cuda_notebooks(tmp_path)] == ['a.ipynb', 'c.ipynb']


def _py(code): return [sys.executable, '-c', code]


def test_run_stages_report(tmp_path):
    out = tmp_path / 'r.json'
    todo = [gc.Stage('good', 'prints a result', _py(f"print('table'); print({gc.RESULT!r} + '{{\"x\": 1.5}}')"), 30),
            gc.Stage('bad', 'fails', _py("import sys; print('oops', file=sys.stderr); sys.exit(3)"), 30),
            gc.Stage('slow', 'times out', _py("import time; print('started', flush=True); time.sleep(30)"), 1),
            gc.Stage('missing', 'cannot start', ['no-such-program-gpu-check'], 30)]
    rep = gc.run_stages(todo, 60, out, {'gpu': 'fake'}, min_left_s=0)
    assert json.loads(out.read_text()) == rep and not (tmp_path / 'r.json.tmp').exists()
    st = {r['name']: r for r in rep['stages']}
    assert rep['gpu'] == 'fake' and rep['summary'] == {'ok': 1, 'failed': 2, 'timeout': 1, 'skipped': 0}
    assert st['good']['result'] == {'x': 1.5} and st['good']['stdout'].startswith('table')
    assert st['bad']['returncode'] == 3 and 'oops' in st['bad']['stderr'] and 'result' not in st['bad']
    assert st['slow']['status'] == 'timeout' and st['slow']['seconds'] < 20
    assert 'could not start' in st['missing']['note']


def test_budget_skips_the_rest(tmp_path):
    out = tmp_path / 'r.json'
    todo = [gc.Stage('first', 'uses the budget', _py("import time; time.sleep(1.5)"), 30),
            gc.Stage('second', 'no time left', _py("print('ran')"), 30),
            gc.Stage('third', 'no time left', _py("print('ran')"), 30)]
    rep = gc.run_stages(todo, 2.5, out, {}, min_left_s=1.5)
    assert [r['status'] for r in rep['stages']] == ['ok', 'skipped', 'skipped']
    assert 'budget of 2.5 s spent' in rep['stages'][1]['note']
    assert json.loads(out.read_text())['summary']['skipped'] == 2
    rep = gc.run_stages(todo[:1], 30, out, {}, min_left_s=0)            # a stage's timeout is cut to the budget left
    assert rep['stages'][0]['timeout_s'] == 30


@pytest.fixture
def fake_cuda_memory(monkeypatch):
    "The in-process helpers on a CPU: torch.cuda's peak-memory calls answer a fixed number."
    monkeypatch.setattr(torch.cuda, 'reset_peak_memory_stats', lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, 'max_memory_allocated', lambda *a, **k: 3 * 2 ** 30)
    monkeypatch.setattr(torch.cuda, 'synchronize', lambda *a, **k: None)


def test_timed_fit_on_tiny_abp(fake_cuda_memory):
    from dynpat_nb.abp import ABP, ABPConfig
    from dynpat_nb.data import fire
    r = gc._timed_fit(ABP(fire(16, 32, 32)[None], ABPConfig.tiny(n_iters=3), device='cpu'), 3)
    assert r['iterations'] == 3 and set(r['last_metrics']) == {'iter', 'mse', 'z_rms'} and r['last_metrics']['iter'] == 2
    assert 0 < r['sec_per_iter_median'] <= r['total_s'] and r['peak_gib'] == 3.0


def test_peak_one_iteration_on_tiny_descriptor(fake_cuda_memory):
    from dynpat_nb.descriptor_learning import DescriptorConfig, DescriptorLearning
    from dynpat_nb.data import fire
    r = gc._peak_one_iteration(lambda: DescriptorLearning(fire(16, 32, 32)[None], DescriptorConfig.tiny(n_steps=2), device='cpu'))
    assert r['peak_bytes'] == 3 * 2 ** 30 and r['peak_gib'] == 3.0 and r['metrics'] and r['iteration_s'] > 0
