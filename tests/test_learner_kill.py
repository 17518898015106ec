"""A training run killed with SIGKILL and resumed from its checkpoint ends exactly where an uninterrupted run ends."""
import os, signal, subprocess, sys, time, textwrap
from pathlib import Path
import pytest
import torch

SCRIPT = textwrap.dedent('''
    import sys, time, torch
    from torch import nn
    from dynpat_nb.core import seeded
    from dynpat_nb.learner import Algorithm, Learner
    from dynpat_nb.langevin import langevin

    class Toy(Algorithm):
        state_attrs = ('net', 'opt', 'chains')
        def __init__(self, seed=0):
            super().__init__({'lr': 0.01}, 'cpu', seed)
            g = torch.Generator().manual_seed(0)
            self.data = torch.randn(256, 4, generator=g) * 0.5 + 1.0
            with seeded(seed): self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
            self.opt = torch.optim.Adam(self.net.parameters(), lr=0.01)
            self.chains = torch.zeros(32, 4)
        def energy(self, x): return self.net(x).squeeze(1) + (x ** 2).sum(1) / 2
        def step(self, it):
            self.chains = langevin(self.energy, self.chains, 5, 0.2, generator=self.gen).x
            idx = torch.randint(len(self.data), (32,), generator=self.gen)
            loss = self.energy(self.data[idx]).mean() - self.energy(self.chains).mean()
            self.opt.zero_grad(); loss.backward(); self.opt.step()
            time.sleep(float(sys.argv[3]))
            return {'loss': loss.detach()}

    out, ckpt_dir = sys.argv[1], (sys.argv[2] if sys.argv[2] != '-' else None)
    algo = Toy()
    Learner(algo, 40, ckpt_dir=ckpt_dir, ckpt_every=5, progress=False).fit()
    torch.save({'net': algo.net.state_dict(), 'chains': algo.chains}, out)
''')

def _run(tmp, *args):
    return subprocess.Popen([sys.executable, str(tmp / 'toy.py'), *map(str, args)])

def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    (tmp_path / 'toy.py').write_text(SCRIPT)
    ref = _run(tmp_path, tmp_path / 'ref.pt', '-', 0); assert ref.wait(120) == 0
    ckpt = tmp_path / 'ckpt'
    p = _run(tmp_path, tmp_path / 'a.pt', ckpt, 0.05)
    deadline = time.time() + 120
    from dynpat_nb.learner import load_checkpoint
    while time.time() < deadline:                       # wait until a mid-run checkpoint exists
        if (ckpt / 'checkpoint.pt').exists() and load_checkpoint(ckpt / 'checkpoint.pt')['iteration'] >= 10: break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait(30)
    reached = load_checkpoint(ckpt / 'checkpoint.pt')['iteration']
    assert 10 <= reached < 40, reached
    assert not (tmp_path / 'a.pt').exists()
    assert all(f.suffix == '.tmp' for f in ckpt.iterdir() if f.name != 'checkpoint.pt')  # at most a killed writer's temp file
    q = _run(tmp_path, tmp_path / 'b.pt', ckpt, 0); assert q.wait(120) == 0
    a, b = torch.load(tmp_path / 'ref.pt', weights_only=True), torch.load(tmp_path / 'b.pt', weights_only=True)
    for k in a['net']: assert torch.equal(a['net'][k], b['net'][k]), k
    assert torch.equal(a['chains'], b['chains'])
