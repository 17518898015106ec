"""CoopNets against the descriptor alone and ABP alone on the same clip: seconds per iteration, and quality at equal time.

usage: python benchmarks/coop.py speed   [--texture water] [--iters 3] [--preset medium]
       python benchmarks/coop.py quality [--texture water] [--seconds 120] [--preset medium] [--out benchmarks/results]

`speed` times one iteration of each algorithm (after a warm-up) on the same clip and prints the ratios, measured in one run
(benchmarks/results/coop_speed_<preset>.json).
`quality` gives each algorithm the same CPU time (time.process_time: one thread, so other processes on a shared machine do
not count), then measures how close two of its samples are to the training clip: `texture_distance` to the clip, as a
multiple of the distance of a second sample of the same texture (1 = as close as another clip of the texture). It writes
benchmarks/results/coop_<texture>_<seconds>s.json. Run with OMP_NUM_THREADS=1. No timing is asserted anywhere.

The three algorithms share the clip, the generator (CoopNets and ABP) and the descriptor network (CoopNets and the
descriptor alone); each keeps its own sampler settings: the descriptor alone runs 20 Langevin steps per iteration from
persistent chains (notebook 21's defaults), ABP 20 Langevin steps on its latents (notebook 11's), CoopNets 10 revision steps.
"""
import argparse, dataclasses, json, time
from pathlib import Path
import torch
from dynpat_nb.coopnets import CoopConfig, CoopNets
from dynpat_nb.descriptor_learning import DescriptorConfig, DescriptorLearning
from dynpat_nb.abp import ABP, ABPConfig
from dynpat_nb.learner import Learner
from dynpat_nb.data import make_texture
from dynpat_nb.metrics import texture_distance
from dynpat_nb.generator import build_generator

TEXTURES = ('water', 'fire', 'flashing_lights', 'moving_grid', 'windmill', 'flag')

def algorithms(clip: torch.Tensor, c: CoopConfig) -> dict:
    "The three algorithms on `clip`, built from one CoopNets config."
    des = DescriptorConfig(layers=[list(l) for l in c.layers], n_chains=c.n_chains, n_steps=20)
    abp = dataclasses.replace(ABPConfig.tiny(c.generator), batch_size=1)
    return {'coopnets': CoopNets(clip, c, seed=0), 'descriptor': DescriptorLearning(clip, des, seed=0), 'abp': ABP(clip, abp, seed=0)}

def samples(name: str, algo, n: int = 2) -> torch.Tensor:
    "`n` synthesized videos of an algorithm: CoopNets' revised proposals, the descriptor's chains, ABP's prior samples."
    with torch.no_grad():
        if name == 'descriptor': return algo.synthesized[:n].cpu()
    return algo.synthesize(n, seed=1).detach().cpu()

def speed(a):
    clip = make_texture(a.texture, *_extent(a.preset))
    c = getattr(CoopConfig, a.preset)()
    print(f"{a.texture}, clip {tuple(clip.shape)}, preset {a.preset}, {torch.get_num_threads()} thread(s)")
    out = {}
    for name, algo in algorithms(clip, c).items():
        algo.step(0)                                                         # warm-up (autotuning, allocations)
        t = time.perf_counter(); p = time.process_time()
        for it in range(a.iters): algo.step(it + 1)
        out[name] = {'wall': (time.perf_counter() - t) / a.iters, 'cpu': (time.process_time() - p) / a.iters}
        print(f"{name:11s} {out[name]['wall']:7.3f} s/iteration (wall)  {out[name]['cpu']:7.3f} s (CPU)", flush=True)
    for name in ('descriptor', 'abp'):
        print(f"coopnets / {name}: {out['coopnets']['cpu'] / out[name]['cpu']:.2f} (CPU time per iteration)")
    res = {'texture': a.texture, 'clip': list(clip.shape), 'preset': a.preset, 'threads': torch.get_num_threads(),
           'sec_per_iter': out, 'ratio_cpu': {k: out['coopnets']['cpu'] / out[k]['cpu'] for k in ('descriptor', 'abp')}}
    _write(Path(a.out) / f"coop_speed_{a.preset}.json", res)
    return out

def _write(path: Path, res: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.tmp'); tmp.write_text(json.dumps(res, indent=1) + '\n'); tmp.replace(path)
    print(f"wrote {path}")

def _extent(preset: str) -> tuple:
    "(frames, size) of the preset's videos."
    C, T, H, W = build_generator(getattr(CoopConfig, preset)().generator).out_shape()
    return T, H

def quality(a):
    T, H = _extent(a.preset)
    clip, second = make_texture(a.texture, T, H, seed=0), make_texture(a.texture, T, H, seed=1)
    d_second = texture_distance(clip, second)['combined'].item()
    res = {'texture': a.texture, 'clip': list(clip.shape), 'preset': a.preset, 'cpu_seconds': a.seconds,
           'd_second_sample': d_second, 'algorithms': {}}
    for name, algo in algorithms(clip, getattr(CoopConfig, a.preset)()).items():
        learner = Learner(algo, 0, progress=False)
        p0, t0 = time.process_time(), time.perf_counter()
        while time.process_time() - p0 < a.seconds:
            learner.n_iters += 1; learner.fit(resume=False)
        syn = samples(name, algo)
        d = [texture_distance(clip, x)['combined'].item() / d_second for x in syn]
        res['algorithms'][name] = {'iters': learner.iteration, 'cpu_s': time.process_time() - p0,
                                   'wall_s': time.perf_counter() - t0, 'rel_distance': d,
                                   'mean_rel_distance': sum(d) / len(d), 'last': learner.history[-1]}
        print(f"{a.texture:16s} {name:11s} {learner.iteration:5d} iterations  distance {sum(d) / len(d):6.2f} x second sample",
              flush=True)
    best = min(res['algorithms'], key=lambda k: res['algorithms'][k]['mean_rel_distance'])
    res['closest'] = best
    out = Path(a.out) / f"coop_{a.texture}_{a.seconds:g}s.json"
    print(f"closest: {best}")
    _write(out, res)
    return res

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('what', choices=('speed', 'quality'))
    p.add_argument('--texture', default='water', choices=TEXTURES)
    p.add_argument('--preset', default='medium', choices=('tiny', 'medium', 'paper'))
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--seconds', type=float, default=120)
    p.add_argument('--out', default=str(Path(__file__).parent / 'results'))
    a = p.parse_args()
    speed(a) if a.what == 'speed' else quality(a)

if __name__ == '__main__': main()
