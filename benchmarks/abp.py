"""Speed of alternating back-propagation: seconds per ABP iteration and Langevin steps per second.

usage: python benchmarks/abp.py [--device cpu|cuda] [--paper-iters 1] [--tiny-iters 5] [--skip-paper]

For each generator (model-1/2/3) and preset (tiny, paper) this times `ABP.step` on one training batch
(one mini-batch of `batch` videos = one iteration of Algorithm 1 when the data is one batch) and a bare
Langevin inference of the latents (`infer_latents`, 20 steps). Paper presets are big: on a CPU keep them
to 1-2 iterations. No timing is asserted anywhere; this only prints numbers.
"""
import argparse, dataclasses, time
import torch
from dynpat_nb.abp import ABP, ABPConfig, frozen_bn_stats, infer_latents
from dynpat_nb.generator import Model1Config, Model2Config, Model3Config
from dynpat_nb.core import get_device

def _sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def bench(gcfg, preset: str, n_iters: int, batch: int, device) -> dict:
    cfg = (ABPConfig.paper if preset == 'paper' else ABPConfig.tiny)(gcfg)
    cfg = dataclasses.replace(cfg, batch_size=batch)
    from dynpat_nb.generator import build_generator
    with torch.device('meta'): shape = build_generator(gcfg).out_shape()
    data = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    algo = ABP(data, cfg, device=device, seed=0)
    algo.step(0); _sync(algo.device)                           # warm-up (allocations, cuDNN autotuning)
    t = time.perf_counter()
    for it in range(n_iters): m = algo.step(it + 1)
    float(m['mse']); _sync(algo.device)
    per_iter = (time.perf_counter() - t) / n_iters
    G = algo.G.train()
    t = time.perf_counter()
    with frozen_bn_stats(G):
        for _ in range(n_iters): z = infer_latents(G, algo.data, algo.Z, cfg.sigma, cfg.n_langevin, cfg.step_size, generator=algo.gen).x
    _sync(algo.device)
    lsteps = n_iters * cfg.n_langevin / (time.perf_counter() - t)
    return dict(model=type(gcfg).__name__[:6], preset=preset, video=shape, batch=batch, sec_per_iter=per_iter,
                langevin_steps_per_sec=lsteps, videos_x_steps_per_sec=lsteps * batch)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default=None); p.add_argument('--paper-iters', type=int, default=1)
    p.add_argument('--tiny-iters', type=int, default=5); p.add_argument('--tiny-batch', type=int, default=8)
    p.add_argument('--paper-batch', type=int, default=1); p.add_argument('--skip-paper', action='store_true')
    p.add_argument('--threads', type=int, default=None)
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    print(f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':7s} {'preset':6s} {'video (C,T,H,W)':20s} {'batch':>5s} {'s/iteration':>12s} {'Langevin steps/s':>17s} {'video-steps/s':>14s}")
    runs = [(c.tiny(3), 'tiny', a.tiny_iters, a.tiny_batch) for c in (Model1Config, Model2Config, Model3Config)]
    if not a.skip_paper: runs += [(c.paper(3), 'paper', a.paper_iters, a.paper_batch) for c in (Model1Config, Model2Config, Model3Config)]
    for gcfg, preset, n, b in runs:
        r = bench(gcfg, preset, n, b, dev)
        print(f"{r['model']:7s} {r['preset']:6s} {str(r['video']):20s} {r['batch']:5d} {r['sec_per_iter']:12.3f} "
              f"{r['langevin_steps_per_sec']:17.2f} {r['videos_x_steps_per_sec']:14.2f}", flush=True)

if __name__ == '__main__': main()
