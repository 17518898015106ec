"""Descriptor (STGConvNet) speed: seconds per learning iteration (Algorithm 1) and Langevin steps per second.

usage: python benchmarks/descriptor.py [--presets tiny,paper] [--iters N] [--paper-iters N] [--langevin-only] [--device cpu|cuda] [--threads N]

`tiny` presets run on small clips (3x16x32x32) for a few iterations; `paper` presets use the paper's
networks and video sizes (224x224x70 for Exp 1/2, 100x100x30 with 10-video batches for the mini-batch
variant, 100x200x70 for Exp 3) for 1-2 iterations. Prints one line per preset; no assertions.
"""
import argparse, time
import torch
from dynpat_nb.descriptor import langevin_chains
from dynpat_nb.descriptor_learning import DescriptorConfig, DescriptorLearning

TINY = {  # name: (config, number of training videos, video shape)
    'tiny_exp1': (DescriptorConfig.tiny(arch='tiny_exp1', n_chains=3, n_steps=20), 1, (3, 16, 32, 32)),
    'tiny_exp2': (DescriptorConfig.tiny(arch='tiny_exp2', n_chains=3, n_steps=20), 1, (3, 16, 32, 32)),
    'tiny_exp3': (DescriptorConfig.tiny(arch='tiny_exp3', n_chains=3, n_steps=20), 3, (3, 16, 32, 32)),
}
PAPER = {
    'paper_exp1': (DescriptorConfig.paper(grow_every=0), 1, (3, 70, 224, 224)),
    'paper_exp2': (DescriptorConfig.paper_exp2(), 1, (3, 70, 224, 224)),
    'paper_minibatch': (DescriptorConfig.paper_minibatch(), 30, (3, 30, 100, 100)),
    'paper_exp3': (DescriptorConfig.paper_exp3(), 5, (3, 70, 100, 200)),
}

def bench(name, cfg, n_videos, shape, iters, device, langevin_only=False):
    videos = torch.rand(n_videos, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    algo = DescriptorLearning(videos, cfg, device=device, seed=0)
    sync = (lambda: torch.cuda.synchronize()) if algo.device.type == 'cuda' else (lambda: None)
    if algo.device.type == 'cuda': algo.step(0); sync()         # warm-up (allocations, cuDNN choices)
    per_iter = float('nan')
    if not langevin_only:
        t0 = time.perf_counter()
        for it in range(1, iters + 1): algo.step(it)
        sync(); per_iter = (time.perf_counter() - t0) / iters
    n_steps = 2 if langevin_only else max(2, cfg.n_steps // 4)
    t0 = time.perf_counter()
    langevin_chains(algo.net, n=cfg.n_chains, n_steps=n_steps, step_size=algo.step_size, bound=None); sync()
    steps_s = n_steps / (time.perf_counter() - t0)
    print(f"{name:16s} video {'x'.join(map(str, shape)):>14s} videos {n_videos:3d} chains {cfg.n_chains:3d} l={cfg.n_steps:3d}  "
          f"{per_iter:9.3g} s/iteration  {steps_s:9.3g} Langevin steps/s ({cfg.n_chains} chains)", flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--presets', default='tiny,paper'); p.add_argument('--iters', type=int, default=5)
    p.add_argument('--paper-iters', type=int, default=1); p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--langevin-only', action='store_true', help='skip the learning iterations (paper sizes on a CPU)')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, device {a.device}, {torch.get_num_threads()} threads")
    groups = a.presets.split(',')
    if 'tiny' in groups:
        for name, (cfg, n, shape) in TINY.items(): bench(name, cfg, n, shape, a.iters, a.device, a.langevin_only)
    if 'paper' in groups:
        for name, (cfg, n, shape) in PAPER.items(): bench(name, cfg, n, shape, a.paper_iters, a.device, a.langevin_only)
