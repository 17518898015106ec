"""Convergence per iteration of STGConvNet's Algorithm 2: the package's `DescriptorRecovery` against the plain loop of
the authors' TF code (benchmarks/stg_plain_loop.py), on the same clip and salt-and-pepper mask.

usage: OMP_NUM_THREADS=1 python benchmarks/stg_convergence.py --texture fire [--frames 32] [--size 64] [--iters 400]
           [--variants plain,pkg,pkg_flat] [--seed 0] [--checkpoints 100,200,400] [--baselines]

Prints, and writes to benchmarks/results/stg_conv_<texture>_<T>x<H>_<variant>_s<seed>.json, the recovery error
(`metrics.recovery_error`, [0, 255] scale, occluded pixels) of the posterior mean (recovery states averaged over
iterations t/2+1..t) and of the final state at t = 100, 200, 400, and the seconds per iteration.
Variants:
  plain        the plain loop (one learning rate for all layers)
  plain_decay  the plain loop with the package's default per-layer rates lr·0.5^i
  pkg          the package's Algorithm 2, RecoveryConfig.paper(arch='exp2', n_chains=1): the authors' settings
               except the default per-layer learning rates lr·(1, 1/2, 1/4)
  pkg_flat     the same with lrs=[lr]*3 (one rate for all layers, as the authors' code)
With --baselines, also heat diffusion and MRF-ℓ1 (`dynpat_nb.baselines`) on the same clip and mask.
"""
import argparse, json, math, time
from pathlib import Path
import torch
from dynpat_nb.data import make_texture
from dynpat_nb.masks import salt_pepper_mask
from dynpat_nb.metrics import recovery_error
from dynpat_nb.descriptor_recovery import RecoveryConfig, DescriptorRecovery
from dynpat_nb.langevin import set_speedups, Speedups

import sys; sys.path.insert(0, str(Path(__file__).parent))
from stg_plain_loop import plain_recovery

RESULTS = Path(__file__).parent / 'results'
PKG = {  # variant: RecoveryConfig overrides on top of the authors' settings
    'pkg': {},
    'pkg_flat': {'lrs': [1e-3] * 3},
}


def package_recovery(truth, mask, overrides, n_iters, checkpoints, seed=0, log=print, on_checkpoint=None):
    "The package's Algorithm 2 (`DescriptorRecovery.step`), the posterior mean averaged over iterations t/2+1..t as in the plain loop."
    cfg = RecoveryConfig.paper(arch='exp2', n_chains=1, n_iters=n_iters, avg_from=1.0, **overrides)   # own averages below
    obs = torch.where(mask, truth, torch.zeros_like(truth))
    algo = DescriptorRecovery(obs, mask, cfg, seed=seed)
    sums = {t: torch.zeros_like(algo.recovered) for t in checkpoints}
    out, t0 = {'config': {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()}}, time.time()
    for it in range(1, n_iters + 1):
        algo.step(it - 1)
        rec = algo.recovered
        for t in checkpoints:
            if t // 2 < it <= t: sums[t] += rec
        if it in checkpoints:
            out[it] = (sums[it] / (it - it // 2)).clamp(-1, 1)[0]
            out[('final', it)] = rec.clamp(-1, 1)[0]
            log(f"package it {it}: {time.time() - t0:.0f} s")
            if on_checkpoint is not None: on_checkpoint(it, out[it], out[('final', it)], time.time() - t0)
    out['seconds'] = time.time() - t0
    return out


def run(texture, frames, size, iters, variant, seed, baselines, checkpoints=(100, 200, 400)):
    torch.set_num_threads(1)
    truth = make_texture(texture, frames=frames, size=size, seed=0)
    mask = salt_pepper_mask(truth.shape[1:], seed=0)
    cps = tuple(t for t in checkpoints if t <= iters)
    rec = {'texture': texture, 'shape': list(truth.shape), 'iters': iters, 'variant': variant, 'seed': seed,
           'threads': torch.get_num_threads(), 'torch': torch.__version__}
    if baselines:
        from dynpat_nb.baselines import heat_diffusion, mrf_fill
        obs = torch.where(mask, truth, torch.zeros_like(truth))
        rec['heat'] = float(recovery_error(heat_diffusion(obs, mask), truth, mask))
        rec['mrf_l1'] = float(recovery_error(mrf_fill(obs, mask, norm='l1', seed=0), truth, mask))
        rec['mean_fill'] = float(recovery_error(torch.where(mask, truth, truth[mask.expand_as(truth)].mean()), truth, mask))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"stg_conv_{texture}_{frames}x{size}_{variant}_s{seed}.json"
    rec['err_mean'], rec['err_final'], rec['seconds_at'] = {}, {}, {}
    def on_checkpoint(t, mean, final, secs):                   # written at every checkpoint: a cut run keeps what it measured
        rec['err_mean'][t] = float(recovery_error(mean, truth, mask))
        rec['err_final'][t] = float(recovery_error(final, truth, mask))
        rec['seconds_at'][t] = secs; rec['s_per_iter'] = secs / t
        path.write_text(json.dumps(rec, indent=1))
        print(f"{variant} it {t}: error {rec['err_mean'][t]:.2f} (mean) {rec['err_final'][t]:.2f} (final), {secs / t:.2f} s/it", flush=True)
    if variant.startswith('plain'):
        res = plain_recovery(truth, mask, iters, cps, lr_decay=0.5 if variant == 'plain_decay' else 1.0, seed=seed,
                             on_checkpoint=on_checkpoint)
    else:
        rec['config'] = {}
        res = package_recovery(truth, mask, PKG[variant], iters, cps, seed=seed, on_checkpoint=on_checkpoint)
        rec['config'] = res['config']
    rec['seconds'] = res['seconds']; rec['s_per_iter'] = res['seconds'] / iters
    path.write_text(json.dumps(rec, indent=1))
    print(json.dumps({k: v for k, v in rec.items() if k != 'config'}), flush=True)
    return rec


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--texture', default='fire'); p.add_argument('--frames', type=int, default=32)
    p.add_argument('--size', type=int, default=64); p.add_argument('--iters', type=int, default=400)
    p.add_argument('--variants', default='plain,pkg,pkg_flat'); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--checkpoints', default='100,200,400', help='iterations at which to measure')
    p.add_argument('--baselines', action='store_true'); p.add_argument('--no-fast', action='store_true')
    a = p.parse_args()
    if not a.no_fast: set_speedups(Speedups.fast('cpu'))
    for i, v in enumerate(a.variants.split(',')):
        run(a.texture, a.frames, a.size, a.iters, v, a.seed, a.baselines and i == 0, tuple(int(t) for t in a.checkpoints.split(',')))
