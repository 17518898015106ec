"""One-shot GPU check: the CUDA notebook tests, the benchmarks, two paper-size learning runs and the peak memory
of the paper's largest videos, in one command that writes one JSON report.

usage: python benchmarks/gpu_check.py [--out gpu_check.json] [--budget-s 480] [--dry-run]

Stages, in order (each a subprocess with its own timeout, cut to what is left of the global budget):
  nbtest:<notebook>    `nbdev_test --flags cuda --path nbs/<notebook>` for every notebook with a `#| cuda` cell
  peak:descriptor      peak GPU memory (torch.cuda.max_memory_allocated) of one Algorithm-1 iteration of the paper's
                       Exp-2 (FC-S) descriptor on a 3x70x224x224 procedural fire clip
  peak:recovery        the same for one Algorithm-2 (inpainting) iteration, Exp-2 network, 3x104x130x230 clip with
                       one occluded square (`region_mask`)
  learn:generator      50 iterations of ABP (paper settings, the paper's model-2) on a 64x64x64 fire clip:
                       seconds per iteration, the last metrics, peak memory
  learn:descriptor     50 iterations of Algorithm 1, the paper's Exp-2 (FC-S) config, on a 3x70x224x224 fire clip
  bench:abp|descriptor|conv3d|langevin   benchmarks/<name>.py --device cuda at the tiny and paper presets; their
                       printed tables are stored verbatim
After the notebook tests come the memory and learning measurements, then the benchmarks. The learning runs print one line per
iteration, so a run cut by its timeout still leaves its timings in the report. A failed or timed-out stage is
recorded and the next one runs; once the budget is spent the remaining stages are recorded as skipped. The report
is rewritten after every stage, so an interrupted check keeps what it measured. The default budget (480 s) caps
the whole check at 8 minutes plus start-up; the stage timeouts (see --dry-run) are estimates for an H100, not yet
measured, and add up to more than the budget, so on a slow card the last benchmarks are skipped.

Exit status: 0 every stage passed; 1 some stage failed, timed out or was skipped; 2 no CUDA device here (one line
on stderr, nothing run, no report written). `--dry-run` lists the stages with their commands and timeouts, and
needs no GPU.
"""
from __future__ import annotations
import argparse, json, os, platform, subprocess, sys, time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
RESULT = 'GPU_CHECK_RESULT '          # prefix of the one JSON line an in-process stage prints
TAIL = 20_000                         # characters of each stage's stdout/stderr kept in the report
MIN_LEFT_S = 10.0                     # a stage does not start with less budget than this
LEARN_ITERS = 50
_here = Path(sys.executable).parent / 'nbdev_test'            # this interpreter's, even when its environment is not activated
NBDEV_TEST = str(_here) if _here.exists() else 'nbdev_test'


@dataclass
class Stage:
    name: str
    what: str
    cmd: list
    timeout_s: float


def cuda_notebooks(nbs: Path = ROOT / 'nbs') -> list[Path]:
    "Notebooks with at least one code cell flagged `#| cuda`."
    def flagged(cell) -> bool:
        src = ''.join(cell.get('source', ''))                  # a list of lines or one string
        return cell.get('cell_type') == 'code' and any(l.replace(' ', '').startswith('#|cuda') for l in src.splitlines())
    return [nb for nb in sorted(nbs.glob('*.ipynb')) if any(map(flagged, json.loads(nb.read_text()).get('cells', [])))]


def _bench(name: str, args: list, timeout_s: float, what: str) -> Stage:
    return Stage(f'bench:{name}', what, [sys.executable, f'benchmarks/{name}.py', '--device', 'cuda', *args], timeout_s)


def _self(name: str, timeout_s: float, what: str) -> Stage:
    return Stage(name, what, [sys.executable, str(HERE.relative_to(ROOT)), '--stage', name], timeout_s)


def stages() -> list[Stage]:
    "Every stage of the check, in the order it runs."
    out = [Stage(f'nbtest:{nb.name}', f"cuda-flagged tests of {nb.name}",
                 [NBDEV_TEST, '--flags', 'cuda', '--path', str(nb.relative_to(ROOT))], 90) for nb in cuda_notebooks()]
    out += [
        _self('peak:descriptor', 45, "peak memory, one Algorithm-1 iteration, Exp-2 (FC-S) descriptor, 3x70x224x224"),
        _self('peak:recovery', 45, "peak memory, one Algorithm-2 (inpainting) iteration, Exp-2 network, 3x104x130x230"),
        _self('learn:generator', 60, f"{LEARN_ITERS} iterations of ABP, paper settings, model-2, 3x64x64x64 fire"),
        _self('learn:descriptor', 120, f"{LEARN_ITERS} iterations of Algorithm 1, Exp-2 (FC-S), 3x70x224x224 fire"),
        _bench('abp', ['--tiny-iters', '5', '--paper-iters', '2'], 60, "ABP s/iteration, models 1-3, tiny and paper presets"),
        _bench('descriptor', ['--presets', 'tiny,paper', '--iters', '5', '--paper-iters', '2'], 60,
               "descriptor s/iteration, tiny and paper presets"),
        _bench('conv3d', ['--presets', 'tiny_exp1,tiny_exp2,tiny_exp3,exp1,exp2,exp3', '--repeats', '2'], 45,
               "per-layer 3D convolution cost, tiny and paper networks"),
        _bench('langevin', ['--presets', 'tiny,paper', '--steps', '5'], 120,
               "Langevin steps/s (reference, default, fast), tiny and paper presets"),
    ]
    return out


def _tail(s: str) -> str: return s if len(s) <= TAIL else '...' + s[-TAIL:]


def run_stage(st: Stage, timeout_s: float) -> dict:
    "Run one stage as a subprocess; its record (status ok/failed/timeout, seconds, output, parsed result)."
    rec = {'name': st.name, 'what': st.what, 'cmd': ' '.join(map(str, st.cmd)), 'timeout_s': round(timeout_s, 1)}
    t0 = time.monotonic()
    try:
        p = subprocess.run(st.cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
        rec.update(status='ok' if p.returncode == 0 else 'failed', returncode=p.returncode, stdout=_tail(p.stdout), stderr=_tail(p.stderr))
    except subprocess.TimeoutExpired as e:
        dec = lambda b: (b.decode(errors='replace') if isinstance(b, bytes) else b) or ''
        rec.update(status='timeout', note=f"killed after {timeout_s:.0f} s", stdout=_tail(dec(e.stdout)), stderr=_tail(dec(e.stderr)))
    except OSError as e:
        rec.update(status='failed', note=f"could not start: {e}")
    rec['seconds'] = round(time.monotonic() - t0, 2)
    for line in reversed(rec.get('stdout', '').splitlines()):
        if line.startswith(RESULT):
            rec['result'] = json.loads(line[len(RESULT):]); break
    return rec


def run_stages(todo: list[Stage], budget_s: float, out: Path, header: dict, min_left_s: float = MIN_LEFT_S) -> dict:
    "Run `todo` in order within `budget_s` seconds, rewriting the report `out` after every stage."
    report = {**header, 'budget_s': budget_s, 'stages': []}
    t0 = time.monotonic()
    for st in todo:
        left = budget_s - (time.monotonic() - t0)
        if left < min_left_s:
            rec = {'name': st.name, 'what': st.what, 'status': 'skipped',
                   'note': f"budget of {budget_s:g} s spent ({left:.0f} s left, a stage needs at least {min_left_s:g} s)"}
        else:
            print(f"gpu_check: {st.name} (up to {min(st.timeout_s, left):.0f} s) ...", file=sys.stderr, flush=True)
            rec = run_stage(st, min(st.timeout_s, left))
            print(f"gpu_check: {st.name} {rec['status']} in {rec['seconds']} s", file=sys.stderr, flush=True)
        report['stages'].append(rec)
        report['seconds'] = round(time.monotonic() - t0, 2)
        report['summary'] = {s: sum(r['status'] == s for r in report['stages']) for s in ('ok', 'failed', 'timeout', 'skipped')}
        write_report(report, out)
    return report


def write_report(report: dict, out: Path) -> None:
    "Write `report` as JSON atomically (a half-written file never replaces a good one)."
    out = Path(out)
    tmp = out.with_name(out.name + '.tmp')
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out)


# ---- in-process stages (run as `gpu_check.py --stage NAME` on the GPU) ----

def _gib(b: int) -> float: return round(b / 2 ** 30, 3)


def _timed_fit(algo, n_iters: int) -> dict:
    "Learn `n_iters` iterations with the package's Learner; seconds per iteration (each synced by the Learner's float())."
    import torch
    from dynpat_nb.learner import Learner
    stamps = [time.perf_counter()]
    def tick(it, learner):                       # one line per iteration: a run cut by its timeout keeps its timings
        stamps.append(time.perf_counter())
        print(f"iteration {it}: {stamps[-1] - stamps[-2]:.4f} s {learner.history[-1]}", flush=True)
    torch.cuda.reset_peak_memory_stats()
    hist = Learner(algo, n_iters, progress=False, callback=tick).fit(resume=False)
    dt = [b - a for a, b in zip(stamps, stamps[1:])]
    later = sorted(dt[1:]) or dt
    return {'iterations': len(hist), 'first_iteration_s': round(dt[0], 4), 'sec_per_iter_mean': round(sum(dt[1:]) / max(1, len(dt) - 1), 4),
            'sec_per_iter_median': round(later[len(later) // 2], 4), 'total_s': round(stamps[-1] - stamps[0], 2),
            'last_metrics': hist[-1], 'peak_gib': _gib(torch.cuda.max_memory_allocated())}


def _peak_one_iteration(make) -> dict:
    "Peak GPU memory of building an algorithm with `make()` and running one iteration."
    import torch
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    algo = make()
    metrics = {k: float(v) for k, v in algo.step(0).items()}
    torch.cuda.synchronize()
    return {'iteration_s': round(time.perf_counter() - t, 3), 'metrics': metrics,
            'peak_bytes': torch.cuda.max_memory_allocated(), 'peak_gib': _gib(torch.cuda.max_memory_allocated())}


def _stage_peak_descriptor() -> dict:
    from dynpat_nb.data import fire
    from dynpat_nb.descriptor_learning import DescriptorConfig, DescriptorLearning
    shape = (3, 70, 224, 224)
    r = _peak_one_iteration(lambda: DescriptorLearning(fire(70, 224, 224, device='cuda')[None], DescriptorConfig.paper_exp2(), device='cuda'))
    return {'video': shape, 'config': 'DescriptorConfig.paper_exp2()', **r}


def _stage_peak_recovery() -> dict:
    from dynpat_nb.data import fire
    from dynpat_nb.masks import region_mask, coverage
    from dynpat_nb.descriptor_recovery import RecoveryConfig, DescriptorRecovery
    T, H, W = 104, 130, 230
    mask = region_mask((T, H, W))
    r = _peak_one_iteration(lambda: DescriptorRecovery(fire(T, H, W, device='cuda')[None], mask, RecoveryConfig.paper_inpainting(), device='cuda'))
    return {'video': (3, T, H, W), 'config': 'RecoveryConfig.paper_inpainting()', 'mask': 'region_mask', 'occluded': round(coverage(mask), 4), **r}


def _stage_learn_generator() -> dict:
    from dynpat_nb.data import fire
    from dynpat_nb.abp import ABP, ABPConfig
    from dynpat_nb.generator import Model2Config
    cfg = ABPConfig.paper(Model2Config.paper(3))
    algo = ABP(fire(64, 64, 64, device='cuda')[None], cfg, device='cuda')
    return {'video': (3, 64, 64, 64), 'config': 'ABPConfig.paper(Model2Config.paper(3))', **_timed_fit(algo, LEARN_ITERS)}


def _stage_learn_descriptor() -> dict:
    from dynpat_nb.data import fire
    from dynpat_nb.descriptor_learning import DescriptorConfig, DescriptorLearning
    algo = DescriptorLearning(fire(70, 224, 224, device='cuda')[None], DescriptorConfig.paper_exp2(), device='cuda')
    return {'video': (3, 70, 224, 224), 'config': 'DescriptorConfig.paper_exp2()', **_timed_fit(algo, LEARN_ITERS)}


IN_PROCESS = {'peak:descriptor': _stage_peak_descriptor, 'peak:recovery': _stage_peak_recovery,
              'learn:generator': _stage_learn_generator, 'learn:descriptor': _stage_learn_descriptor}


def _header() -> dict:
    import torch
    try: commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError: commit = ''
    return {'gpu': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'cuda': torch.version.cuda,
            'python': platform.python_version(), 'commit': commit, 'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].replace('\n', ' '), epilog=__doc__.split('\n\n', 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='gpu_check.json', help="the JSON report (default: gpu_check.json)")
    p.add_argument('--budget-s', type=float, default=480, help="global time budget in seconds (default: 480)")
    p.add_argument('--dry-run', action='store_true', help="list the stages (name, timeout, command) and exit; needs no GPU")
    p.add_argument('--stage', choices=sorted(IN_PROCESS), help=argparse.SUPPRESS)   # internal: one in-process stage
    a = p.parse_args(argv)
    if a.budget_s <= 0: p.error(f"--budget-s must be positive, got {a.budget_s:g}")
    todo = stages()
    if a.dry_run:
        for st in todo: print(f"{st.name:24s} {st.timeout_s:5.0f} s  {st.what}\n{'':32s}{' '.join(map(str, st.cmd))}")
        print(f"{len(todo)} stages, at most {sum(s.timeout_s for s in todo):.0f} s of timeouts, cut to the {a.budget_s:g} s budget")
        return 0
    import torch
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to check", file=sys.stderr)
        return 2
    if a.stage:
        print(RESULT + json.dumps(IN_PROCESS[a.stage]()), flush=True)
        return 0
    report = run_stages(todo, a.budget_s, Path(a.out), _header())
    print(f"gpu_check: {report['summary']} in {report['seconds']} s; report in {a.out}", file=sys.stderr)
    return 0 if report['summary']['ok'] == len(todo) else 1


if __name__ == '__main__': sys.exit(main())
