"""Speed of the Langevin loop (and of one learning iteration) for ABP model-1/2/3 and descriptor Exp 1/2/3.

usage: python benchmarks/langevin.py [--presets tiny,medium,paper] [--device cpu|cuda] [--threads N] [--steps N]
                                     [--compile] [--only abp|descriptor] [--no-iter]

For every workload it measures, in the same run:
  ref      the straightforward reference loop: float32, `energy(x).sum().backward()` (weight gradients computed
           too), `x - s²/2 x.grad + s ε`, no other trick;
  default  `dynpat_nb.langevin.langevin` as shipped (frozen parameters, no last backward, no host syncs);
  fast     `langevin` under `Speedups.fast(device)` (CPU: autotuned polyphase strided convolutions;
           CUDA: bf16 autocast + channels-last + cuDNN benchmark); `--compile` adds a torch.compile column.
It prints seconds per Langevin step, steps/s, voxels/s (chains x voxels x steps / s), achieved FLOP/s of the
energy's forward + input-gradient (counted by torch.utils.flop_counter) next to the machine's measured
float32 matmul peak, peak memory, the ratio fast/ref, and seconds per learning iteration (ABP.step or
DescriptorLearning.step: one Algorithm-1 iteration, reference loop vs fast). Nothing is asserted.
"""
import argparse, dataclasses, resource, sys, time
import torch
from torch.utils.flop_counter import FlopCounterMode
import dynpat_nb.abp as abp_mod
import dynpat_nb.descriptor_learning as dl_mod
from dynpat_nb.abp import ABP, ABPConfig, posterior_energy, frozen_bn_stats
from dynpat_nb.generator import Model1Config, Model2Config, Model3Config, build_generator
from dynpat_nb.descriptor_learning import DescriptorConfig, DescriptorLearning
from dynpat_nb.langevin import langevin, speedups, Speedups, LangevinResult, frozen_params


def reference_langevin(energy, x, n_steps, step_size, free=None, noise=True, generator=None, **kw):
    "The plain autograd loop (what one writes first): weight gradients too, float32, no tricks."
    s = step_size
    x = x.detach().clone()
    for _ in range(n_steps):
        x = x.detach().requires_grad_(True)
        u = energy(x)
        u.sum().backward()
        new = x - s * s / 2 * x.grad
        if noise: new = new + s * torch.randn(x.shape, generator=generator, device=x.device)
        x = new if free is None else torch.where(free, new, x)
    x = x.detach()
    return LangevinResult(x, energy(x).detach()[None])


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def matmul_peak(dev, n=None) -> float:
    "Measured float32 matmul FLOP/s (CUDA: TF32 off, i.e. the float32 peak; bf16 peak printed separately)."
    n = n or (8192 if dev.type == 'cuda' else 1024)
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    a @ b; sync(dev)
    reps, t = 0, time.perf_counter()
    while time.perf_counter() - t < 1.0: a @ b; reps += 1; sync(dev)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def count_flops(energy, x, net) -> float:
    "FLOPs of one energy + input-gradient evaluation (parameters frozen, as while sampling)."
    with frozen_params([net]), FlopCounterMode(display=False) as fc:
        xx = x.detach().requires_grad_(True)
        energy(xx).sum().backward()
    return fc.get_total_flops()


def _mem(dev):
    return torch.cuda.max_memory_allocated(dev) if dev.type == 'cuda' else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_variants(variants: dict, dev, reps: int) -> dict:
    """Best-of-`reps` seconds per call of each variant, run round-robin (robust to other load on a shared machine:
    one variant's timings vary by up to ±25% between calls on a busy VM; the minimum is the least disturbed)."""
    best, mem = {k: float('inf') for k in variants}, {}
    for k, f in variants.items(): f(); sync(dev)                 # warm-up (allocations, autotuning, compilation)
    for _ in range(reps):
        for k, f in variants.items():
            if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
            t = time.perf_counter(); f(); sync(dev)
            best[k] = min(best[k], time.perf_counter() - t); mem[k] = _mem(dev)
    return {k: (best[k], mem[k]) for k in variants}


def abp_workload(gcfg, batch, dev):
    G = build_generator(gcfg).to(dev).train()
    data = torch.rand(batch, *G.out_shape(), generator=torch.Generator().manual_seed(0)).to(dev) * 2 - 1
    z = torch.randn(batch, *G.latent_shape(), generator=torch.Generator().manual_seed(1)).to(dev)
    def algo():
        return ABP(data, dataclasses.replace(ABPConfig.paper(gcfg), batch_size=batch), device=dev, seed=0)
    return posterior_energy(G, data, 0.5), z, 0.1, data[0].numel(), G, algo, abp_mod


def desc_workload(cfg, n_videos, shape, dev):
    videos = torch.rand(n_videos, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    algo0 = DescriptorLearning(videos, cfg, device=dev, seed=0)
    x = algo0.chains.detach().clone() + 0.01 * torch.randn(algo0.chains.shape, generator=torch.Generator().manual_seed(1)).to(dev)
    return algo0.net.energy, x, algo0.step_size, x[0].numel(), algo0.net, lambda: DescriptorLearning(videos, cfg, device=dev, seed=0), dl_mod


ABP_PRESETS = {
    'tiny': [('abp-m1', Model1Config.tiny(), 8), ('abp-m2', Model2Config.tiny(), 8), ('abp-m3', Model3Config.tiny(), 8)],
    'medium': [('abp-m1', Model1Config(2, (4, 8, 8), (64, 32), 3), 4), ('abp-m3', Model3Config(32, 2, 8, 64, 32, 3, (64, 32), 3), 4)],
    'paper': [('abp-m1', Model1Config.paper(), 1), ('abp-m2', Model2Config.paper(), 1), ('abp-m3', Model3Config.paper(), 1)],
}
DESC_PRESETS = {
    'tiny': [('desc-exp1', DescriptorConfig.tiny(arch='tiny_exp1', n_chains=3), 1, (3, 16, 32, 32)),
             ('desc-exp2', DescriptorConfig.tiny(arch='tiny_exp2', n_chains=3), 1, (3, 16, 32, 32)),
             ('desc-exp3', DescriptorConfig.tiny(arch='tiny_exp3', n_chains=3), 3, (3, 16, 32, 32))],
    'medium': [('desc-exp1', DescriptorConfig.tiny(arch='tiny_exp1', n_chains=3), 1, (3, 32, 64, 64)),
               ('desc-exp2', DescriptorConfig.tiny(arch='tiny_exp2', n_chains=3), 1, (3, 32, 64, 64))],
    'paper': [('desc-exp1', DescriptorConfig.paper(grow_every=0), 1, (3, 70, 224, 224)),
              ('desc-exp2', DescriptorConfig.paper_exp2(), 1, (3, 70, 224, 224)),
              ('desc-exp3', DescriptorConfig.paper_exp3(), 5, (3, 70, 100, 200))],
}


def run(name, preset, wl, dev, steps, a, peak):
    energy, x, s, vox, net, make_algo, mod = wl
    fast = Speedups.fast(dev)
    variants = {'ref': lambda: reference_langevin(energy, x, steps, s),
                'default': lambda: langevin(energy, x, steps, s)}
    def fast_run(settings):
        def f():
            return langevin(energy, x, steps, s, speed=settings)
        return f
    variants['fast'] = fast_run(fast)
    if a.compile: variants['compile'] = fast_run(dataclasses.replace(fast, compile=True))
    reps = 1 if preset == 'paper' else 5
    bn = frozen_bn_stats(net) if name.startswith('abp') else None
    res = {}
    if bn: bn.__enter__()
    try:
        res = time_variants(variants, dev, reps)
        flops = count_flops(energy, x, net)
    finally:
        if bn: bn.__exit__(None, None, None)
    for p in net.parameters(): p.grad = None
    B = x.shape[0]
    line = f"{name:10s} {preset:6s} {B:3d}x{vox / 1e6:6.3f}Mvox"
    for k, (sec, mem) in res.items():
        st = sec / steps
        line += f" | {k}: {st * 1e3:8.1f} ms/step {B * vox / st / 1e6:7.2f} Mvox/s {flops / st / 1e9:7.2f} GF/s ({flops / st / peak:5.1%} peak) mem {mem / 2**20:6.0f}MiB"
    line += f" | fast/ref x{res['ref'][0] / res['fast'][0]:.2f}  default/ref x{res['ref'][0] / res['default'][0]:.2f}"
    if 'compile' in res: line += f"  compile/ref x{res['ref'][0] / res['compile'][0]:.2f}"
    if not a.no_iter:                                             # one learning iteration, reference loop vs fast
        algo, orig = make_algo(), mod.langevin
        def rstep():
            mod.langevin = reference_langevin
            try: algo.step(1)
            finally: mod.langevin = orig
        def fstep():
            with speedups(fast): algo.step(1)
        t = time_variants({'ref': rstep, 'fast': fstep}, dev, 1 if preset == 'paper' else 2)
        t_ref, t_fast = t['ref'][0], t['fast'][0]
        line += f" | iteration: ref {t_ref:.3g} s, fast {t_fast:.3g} s (x{t_ref / t_fast:.2f})"
    print(line, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--presets', default='tiny,medium'); p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=0); p.add_argument('--steps', type=int, default=0)
    p.add_argument('--compile', action='store_true'); p.add_argument('--only', default='')
    p.add_argument('--no-iter', action='store_true')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    peak = matmul_peak(dev)
    gpu = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'none'
    print(f"torch {torch.__version__}, device {dev} (GPU: {gpu}), {torch.get_num_threads()} threads, "
          f"measured fp32 matmul peak {peak / 1e9:.1f} GFLOP/s", flush=True)
    for preset in a.presets.split(','):
        steps = a.steps or (2 if preset == 'paper' and dev.type == 'cpu' else 10)
        if a.only in ('', 'abp'):
            for name, gcfg, batch in ABP_PRESETS[preset]: run(name, preset, abp_workload(gcfg, batch, dev), dev, steps, a, peak)
        if a.only in ('', 'descriptor'):
            for name, cfg, n, shape in DESC_PRESETS[preset]: run(name, preset, desc_workload(cfg, n, shape, dev), dev, steps, a, peak)


if __name__ == '__main__': main()
