"""Per-layer cost of the descriptors' 3D convolutions: forward, input gradient, weight gradient, first call apart.

usage: python benchmarks/conv3d.py [--device cpu|cuda] [--presets exp1,exp2,exp3,tiny_exp1,...] [--repeats 3]
                                   [--tf32 on|off|both] [--bf16] [--threads N]

A Langevin step of the descriptor is one forward pass and one input gradient of every layer, and a learning step
adds the weight gradients. For each layer of each preset (at the video sizes of `benchmarks/descriptor.py`: the
paper's 70x224x224 for Exp 1/2 and 70x100x200 for Exp 3, 16x32x32 for the tiny ones; one video) this prints the
time of a first call (where cuDNN's benchmark mode and oneDNN pick their algorithms) and the mean of `--repeats`
further calls of: the forward convolution; the input gradient by the library; the input gradient by the polyphase
form of `dynpat_nb.langevin` (strided layers); the weight gradient; and, for a kernel that spans the frame, the
forward + input gradient as the matrix product `frame_conv3d` that the descriptor uses. A first call slower than
`--slow` seconds is not repeated. Nothing is asserted; this only prints numbers.
"""
import argparse, time
import torch, torch.nn.functional as F
from dynpat_nb.core import get_device
from dynpat_nb.descriptor import PRESETS, layer_shapes
from dynpat_nb.fastconv import _convT_window, frame_conv3d

SIZES = {'exp1': (3, 70, 224, 224), 'exp2': (3, 70, 224, 224), 'exp2_minibatch': (3, 30, 100, 100), 'exp3': (3, 70, 100, 200)}

def timed(f, dev, repeats, slow):
    "(first call, mean of `repeats` further calls) in seconds; the repeats are skipped after a first call over `slow` s."
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    sync(); t = time.perf_counter(); f(); sync(); first = time.perf_counter() - t
    if first > slow: return first, float('nan')
    t = time.perf_counter()
    for _ in range(repeats): f()
    sync(); return first, (time.perf_counter() - t) / repeats

def layers(preset, shape, dev, dtype):
    "Input, weight and stride of each layer of `preset` for one video of `shape` (padded as the descriptor pads it)."
    g = torch.Generator().manual_seed(0); c, out = shape[0], []
    size = shape
    for (k, s, pads, o) in layer_shapes(shape, PRESETS[preset]()):
        T, H, W = (size[1 + d] + sum(pads[d]) for d in range(3))
        x = torch.randn(1, c, T, H, W, generator=g).to(dev, dtype)
        w = (torch.randn(o[0], c, *k, generator=g) * 1e-2).to(dev, dtype)
        out.append((x, w, s)); c, size = o[0], o
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default=None); p.add_argument('--presets', default='exp1,exp2,exp3')
    p.add_argument('--repeats', type=int, default=3); p.add_argument('--tf32', default='on', choices=('on', 'off', 'both'))
    p.add_argument('--bf16', action='store_true'); p.add_argument('--threads', type=int, default=0)
    p.add_argument('--slow', type=float, default=5.0)
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    print(f"torch {torch.__version__}, device {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == 'cuda' else f", {torch.get_num_threads()} threads"), flush=True)
    runs = [(torch.float32, t) for t in ((True, False) if a.tf32 == 'both' else (a.tf32 == 'on',))]
    if a.bf16: runs.append((torch.bfloat16, True))
    print("ms per call, first call in brackets; GFLOP/s of the forward's arithmetic for the repeated calls")
    for preset in a.presets.split(','):
        shape = SIZES.get(preset, (3, 16, 32, 32))
        for dtype, tf32 in runs:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
            for i, (x, w, s) in enumerate(layers(preset, shape, dev, dtype)):
                spans = tuple(w.shape[3:]) == tuple(x.shape[3:])
                y = F.conv3d(x, w, None, s); go = torch.randn_like(y); fl = 2 * y.numel() * w[0].numel()
                bwd = lambda mask: torch.ops.aten.convolution_backward(go, x, w, None, list(s), [0, 0, 0], [1, 1, 1], False, [0, 0, 0], 1, mask)
                parts = {'fwd': lambda: F.conv3d(x, w, None, s), 'dx': lambda: bwd([True, False, False]),
                         'dw': lambda: bwd([False, True, False])}
                if max(s) > 1 and dtype == torch.float32: parts['dx poly'] = lambda: _convT_window(go, w, s, [0, 0, 0], list(x.shape[2:]))
                if spans:
                    xg = x.detach().requires_grad_(True)
                    parts['frame fwd+dx'] = lambda: torch.autograd.grad(frame_conv3d(xg, w, None, s[0]), xg, go)
                cells = []
                for k, f in parts.items():
                    first, mean = timed(f, dev, a.repeats, a.slow)
                    cells.append(f"{k} {mean * 1e3:9.2f} ({first * 1e3:.0f})" + (f" {fl / mean / 1e9:7.1f} GF/s" if mean == mean else ''))
                tag = f"{preset} L{i + 1} {'x'.join(map(str, x.shape[1:]))} {w.shape[0]}@{'x'.join(map(str, w.shape[2:]))}/{'x'.join(map(str, s))}"
                print(f"{tag:44s} {'bf16' if dtype == torch.bfloat16 else 'tf32' if tf32 and dev.type == 'cuda' else 'fp32'} | " + ' | '.join(cells), flush=True)

if __name__ == '__main__': main()
