"""A plain loop of STGConvNet's Algorithm 2 (learn from an occluded video while recovering it), line by line as the authors' TF code.

usage: python benchmarks/stg_plain_loop.py [--texture fire] [--frames 32] [--size 64] [--iters 400] [--seed 0]

The authors' public TF code (STGConvNet, `src/model.py`, `src/ops.py`, `main.py`) learns Algorithm 1; Algorithm 2
adds k masked Langevin steps on the training video before the l synthesis steps. Its settings, kept here:
- pixels on [0, 255] minus one scalar mean of the (observed) training video, no other rescaling; σ = 1;
- FC-S ('FC_S_large'): conv 120@7x7x7 stride 3 'SAME' -> ReLU -> conv 30@(4 frames x whole frame) stride (2,1,1)
  with 2 frames of zero padding each side -> ReLU -> conv 5@(2,1,1) stride 1 with 1 frame of padding -> ReLU;
- weights N(0, 0.001²), biases 0; f = sum of the top layer's outputs (a sum, not a mean);
- Langevin: x <- x - δ²/2 (x/σ² - ∂f/∂x) + δ ε with δ = 0.3, 20 steps; one chain started at N(0, 1) (≈ the mean);
- loss = sum over positions of (mean over chains of f(syn) - mean over videos of f(obs)); Adam lr 1e-3, β1 0.5,
  one learning rate for every layer.
`lr_decay` < 1 gives layer i the rate lr·decay^i (the package's default is 0.5), to show what that changes.
"""
import argparse, json, math, time
import torch
import torch.nn.functional as F


def same_pad(n, k, s):
    "TensorFlow 'SAME' padding along one axis: (left, right)."
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


class FCS(torch.nn.Module):
    "The authors' FC_S_large net for a (3, T, H, W) video: 120@7³/3 SAME, 30@(4, whole frame)/(2,1,1) pad 2 frames, 5@(2,1,1) pad 1 frame."
    def __init__(self, T, H, W, std=0.001, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.p1 = [x for n in (W, H, T) for x in same_pad(n, 7, 3)]          # F.pad order: W, H, T
        h1, w1 = -(-H // 3), -(-W // 3)
        shapes = [(120, 3, 7, 7, 7), (30, 120, 4, h1, w1), (5, 30, 2, 1, 1)]
        self.w = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(s, generator=g) * std) for s in shapes])
        self.b = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(s[0])) for s in shapes])

    def forward(self, x):                                      # (N, 3, T, H, W) on [0, 255] minus the mean -> (N,) f
        h = F.relu(F.conv3d(F.pad(x, self.p1), self.w[0], self.b[0], stride=3))
        h = F.relu(F.conv3d(F.pad(h, (0, 0, 0, 0, 2, 2)), self.w[1], self.b[1], stride=(2, 1, 1)))
        h = F.relu(F.conv3d(F.pad(h, (0, 0, 0, 0, 1, 1)), self.w[2], self.b[2], stride=1))
        return h.flatten(1).sum(1)


def langevin(net, x, n_steps, delta, gen, free=None):
    "x <- x - δ²/2 (x - ∂f/∂x) + δ ε (σ = 1), only `free` pixels moving when given."
    for _ in range(n_steps):
        x = x.detach().requires_grad_(True)
        grad, = torch.autograd.grad(net(x).sum(), x)
        new = x.detach() - 0.5 * delta * delta * (x.detach() - grad) + delta * torch.randn(x.shape, generator=gen)
        x = new if free is None else torch.where(free, new, x.detach())
    return x.detach()


def plain_recovery(truth, mask, n_iters=400, checkpoints=(100, 200, 400), lr=1e-3, lr_decay=1.0, delta=0.3,
                   n_steps=20, n_rec_steps=20, n_chains=1, seed=0, log=print, on_checkpoint=None):
    """Algorithm 2 on `truth` (3, T, H, W) in [-1, 1] seen through `mask` (True = observed).
    Returns {t: recovered video in [-1, 1]} for each checkpoint t: the posterior mean (recovery states averaged over
    iterations t/2+1..t, observed pixels kept) and the final state ('final', t); `on_checkpoint(t, mean, final, seconds)` is called at each."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    C, T, H, W = truth.shape
    m = torch.broadcast_to(mask, truth.shape)[None]
    data = (truth[None] + 1) * 127.5                                       # [0, 255]
    img_mean = data[m].mean()                                               # one scalar mean of what is observed
    obs = torch.where(m, data - img_mean, torch.zeros_like(data))           # occluded pixels start at the mean
    net = FCS(T, H, W, seed=seed)
    groups = [{'params': [w, b], 'lr': lr * lr_decay ** i} for i, (w, b) in enumerate(zip(net.w, net.b))]
    opt = torch.optim.Adam(groups, betas=(0.5, 0.999))
    syn = torch.randn(n_chains, C, T, H, W, generator=gen)
    sums = {t: torch.zeros_like(obs) for t in checkpoints}
    out, t0 = {}, time.time()
    to_model = lambda v: ((v + img_mean) / 127.5 - 1).clamp(-1, 1)[0]
    for it in range(1, n_iters + 1):
        obs = langevin(net, obs, n_rec_steps, delta, gen, free=~m)          # step 5: recover the occluded pixels
        syn = langevin(net, syn, n_steps, delta, gen)                       # step 6: synthesize
        loss = net(syn).mean() - net(obs).mean()                            # steps 7-8: sums over positions
        opt.zero_grad(); loss.backward(); opt.step()
        for t in checkpoints:
            if t // 2 < it <= t: sums[t] += obs
        if it in checkpoints:
            out[it] = to_model(sums[it] / (it - it // 2))
            out[('final', it)] = to_model(obs)
            log(f"plain it {it}: {time.time() - t0:.0f} s")
            if on_checkpoint is not None: on_checkpoint(it, out[it], out[('final', it)], time.time() - t0)
    out['seconds'] = time.time() - t0
    return out


if __name__ == '__main__':
    from dynpat_nb.data import make_texture
    from dynpat_nb.masks import salt_pepper_mask
    from dynpat_nb.metrics import recovery_error
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--texture', default='fire'); p.add_argument('--frames', type=int, default=32)
    p.add_argument('--size', type=int, default=64); p.add_argument('--iters', type=int, default=400)
    p.add_argument('--seed', type=int, default=0); p.add_argument('--lr-decay', type=float, default=1.0)
    a = p.parse_args()
    torch.set_num_threads(1)
    truth = make_texture(a.texture, frames=a.frames, size=a.size, seed=0)
    mask = salt_pepper_mask(truth.shape[1:], seed=0)
    cps = tuple(t for t in (100, 200, 400) if t <= a.iters)
    res = plain_recovery(truth, mask, a.iters, cps, lr_decay=a.lr_decay, seed=a.seed)
    print(json.dumps({str(t): float(recovery_error(res[t], truth, mask)) for t in cps} | {'seconds': res['seconds']}))
