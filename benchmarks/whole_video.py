"""Whole videos: `dynpat recover` and `dynpat inpaint` timed per model on procedural scenes, with the error inside the
mask next to 3D heat diffusion and, where the background stands still, the temporal median of the observed pixels.

    OMP_NUM_THREADS=1 python benchmarks/whole_video.py inpaint                      # the default inpaint, both sizes
    OMP_NUM_THREADS=1 python benchmarks/whole_video.py inpaint --scenes water --sizes 48x192x192 \
        --models descriptor-st:fitted-gmrf abp-1:paper
    OMP_NUM_THREADS=1 python benchmarks/whole_video.py recover                      # 8 missing frames of a 32x64x64 texture

Scenes are made here: a still textured background, the same background panning slowly (half a pixel a frame), and a
dynamic texture (water, fire), each with two walkers (tall ellipses) crossing it; the walkers are the mask. The models run
exactly as the command line runs them (`dynpat_nb.cli.recover_video`, the same parser and defaults). It prints; it is
never a test. Times are wall-clock on whatever machine runs it (the numbers in 50_cli: a 2-core CPU shared with other
jobs, one thread)."""
import argparse, time
import torch
from dynpat_nb.data import make_texture
from dynpat_nb.baselines import heat_diffusion
from dynpat_nb.metrics import recovery_error
from dynpat_nb.masks import make_mask
from dynpat_nb.whole import temporal_median
from dynpat_nb.cli import build_parser, recover_video, _recover_setup, _size_arg

STATIC = ('static', 'pan')


def walkers(T, H, W, n=2, seed=0, r=0.12):
    "Occluder mask (T, H, W), True = walker: `n` tall ellipses crossing the frame, alternately left to right and back."
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.arange(H).float()[:, None], torch.arange(W).float()
    t = torch.linspace(0, 1, T)[:, None, None]
    occ = torch.zeros(T, H, W, dtype=torch.bool)
    for k in range(n):
        y0, y1 = (torch.rand(2, generator=g) * 0.6 + 0.2).tolist()
        cy = (y0 + (y1 - y0) * t) * H
        cx = ((t if k % 2 == 0 else 1 - t) * (1 + 2 * r) - r) * W
        occ |= (((yy - cy) / (1.6 * r * H)) ** 2 + ((xx - cx) / (0.7 * r * W)) ** 2) <= 1
    return occ


def scene(kind, T, H, W, seed=0):
    "(video with walkers, background truth, observed mask (1, T, H, W))."
    S = max(H, W)
    if kind == 'static': bg = make_texture('water', frames=1, size=S, seed=seed)[:, :1, :H, :W].expand(3, T, H, W).contiguous()
    elif kind == 'pan':
        big = make_texture('water', frames=1, size=S + T, seed=seed)[:, 0]
        bg = torch.stack([big[:, :H, t // 2: t // 2 + W] for t in range(T)], 1)
    else: bg = make_texture(kind, frames=T, size=S, seed=seed)[:, :, :H, :W].contiguous()
    occ = walkers(T, H, W, seed=seed)[None]
    colour = torch.tensor([-0.6, -0.3, 0.2])[:, None, None, None]
    return torch.where(occ, colour.expand_as(bg), bg), bg, ~occ


def run_model(video, mask, command, spec, extra):
    "Recover `video` with `spec` ('model:recipe' or 'default') as the command line would; returns (recovery, seconds)."
    argv = [command, 'video', 'mask'] if command == 'inpaint' else [command, 'video', '--mask', 'given']
    if spec != 'default':
        model, recipe = spec.split(':')
        argv += ['--model', model, '--recipe', recipe]
    args = build_parser().parse_args(argv + ['--quiet'] + extra)
    args.size = _size_arg(args.size)
    device, G, cfg, _ = _recover_setup(args)
    t0 = time.time()
    r, info = recover_video(video, mask, args, device, G, cfg)
    return r, time.time() - t0, info


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=('inpaint', 'recover'))
    p.add_argument('--scenes', nargs='+', default=['static', 'water'], help='static, pan, or a texture name (default static water)')
    p.add_argument('--sizes', nargs='+', default=['48x192x192', '68x240x320'], help='TxHxW (default 48x192x192 68x240x320)')
    p.add_argument('--models', nargs='+', default=['default'], help="'default' (the command's defaults) or model:recipe")
    p.add_argument('--extra', nargs=argparse.REMAINDER, default=[], help='more dynpat options, e.g. --iters 30 --size 48')
    a = p.parse_args()
    print(f"{'scene':8s} {'T x H x W':12s} {'method':34s} {'error':>7s} {'seconds':>8s}")
    if a.what == 'recover':                                          # 8 consecutive missing frames of a 32x64x64 texture
        for kind in a.scenes if a.scenes != ['static', 'water'] else ['water', 'flag']:
            v = make_texture(kind, frames=32, size=64, seed=0)
            m = make_mask('consecutive', (32, 64, 64), n=8)
            t0 = time.time(); h = heat_diffusion(torch.where(m, v, torch.zeros_like(v)), m); th = time.time() - t0
            print(f"{kind:8s} {'32x64x64':12s} {'heat diffusion (3D)':34s} {float(recovery_error(h, v, m)):7.2f} {th:8.1f}", flush=True)
            for spec in a.models:
                r, sec, info = run_model(v, m, 'recover', spec, a.extra)
                print(f"{kind:8s} {'32x64x64':12s} {'recover ' + spec:34s} {float(recovery_error(r.video, v, m)):7.2f} {sec:8.1f}", flush=True)
        return
    for size in a.sizes:
        T, H, W = map(int, size.split('x'))
        for kind in a.scenes:
            v, bg, m = scene(kind, T, H, W)
            err = lambda x: float(recovery_error(x, bg, m))
            t0 = time.time(); h = heat_diffusion(torch.where(m, v, torch.zeros_like(v)), m); th = time.time() - t0
            print(f"{kind:8s} {size:12s} {'heat diffusion (3D)':34s} {err(h):7.2f} {th:8.1f}", flush=True)
            t0 = time.time(); tm = temporal_median(v, m); tt = time.time() - t0
            print(f"{kind:8s} {size:12s} {'temporal median':34s} {err(tm):7.2f} {tt:8.1f}", flush=True)
            for spec in a.models:
                r, sec, info = run_model(v, m, 'inpaint', spec, a.extra)
                assert r.video.shape == v.shape and torch.equal(r.video[m.expand_as(v)], v[m.expand_as(v)])
                label = f"inpaint {spec} @{info['work_size'][0]}x{info['work_size'][1]}"
                print(f"{kind:8s} {size:12s} {label:34s} {err(r.video):7.2f} {sec:8.1f}", flush=True)


if __name__ == '__main__':
    main()
