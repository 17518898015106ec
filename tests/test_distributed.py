"""Distributed training with torch.distributed: 2 CPU processes (gloo, launched by torchrun) equal one process.

The pytest trains a tiny ABP (no batch norm, so per-rank statistics cannot differ) for 2 iterations on 2 ranks
with `Learner(distributed=True)`, takes the checkpoint rank 0 wrote (latents gathered from both ranks), compares
it with a single-process run, then resumes that checkpoint in ONE process (a different number of ranks) up to
iteration 4 and compares again. The Langevin noise is switched off: with per-rank random streams the noise of a
2-rank run cannot equal that of one process, while everything else (sharding, gradient all-reduce, gathering,
checkpoints, re-sharding) must agree to float rounding.

Run as a script (`torchrun --nproc_per_node=2 tests/test_distributed.py CKPT_DIR`) it is the worker.
"""
import functools, os, shutil, socket, subprocess, sys, tempfile
from pathlib import Path
import torch

N_VIDEOS = 4


def _setup():
    import dynpat_nb.abp as A
    from dynpat_nb.generator import Model1Config
    orig = A.infer_latents
    A.infer_latents = functools.partial(orig, noise=False)          # noise-free sampling: comparable across world sizes
    class ShardedABP(A.ABP):
        shard_attrs = ('data', 'mask', 'Z')
    cfg = A.ABPConfig.tiny(Model1Config(2, (1, 2, 2), (8, 4), 1, batch_norm=False), n_iters=4)
    cfg.batch_size, cfg.lr = N_VIDEOS, 1e-2
    g = torch.Generator().manual_seed(0)
    data = torch.rand(N_VIDEOS, 1, 8, 16, 16, generator=g) * 2 - 1
    return ShardedABP, cfg, data, (A, orig)


def worker(ckpt_dir: str, n_iters: int):
    torch.set_num_threads(1)
    from dynpat_nb.learner import Learner, init_distributed
    rank, world, device = init_distributed()
    ShardedABP, cfg, data, _ = _setup()
    algo = ShardedABP(data, cfg, device=device, seed=0)
    Learner(algo, n_iters, ckpt_dir=ckpt_dir, ckpt_every=2, progress=False, distributed=True).fit()
    assert len(algo.Z) == N_VIDEOS // world                           # each rank held its share of the latents
    import torch.distributed as dist
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def test_two_gloo_processes_equal_one():
    from dynpat_nb.learner import Learner, load_checkpoint
    ShardedABP, cfg, data, (A, orig) = _setup()
    try:
        snaps = {}
        def snap(it, learner):
            if it + 1 in (2, 4):
                snaps[it + 1] = ({k: v.clone() for k, v in learner.algo.G.state_dict().items()}, learner.algo.Z.clone())
        single = ShardedABP(data, cfg, seed=0)
        Learner(single, 4, progress=False, callback=snap).fit()
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
            cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1',
                   f'--master_port={_free_port()}', __file__, d, '2']
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            ck = load_checkpoint(Path(d) / 'checkpoint.pt')
            assert ck['iteration'] == 2 and len(ck['rank_gens']) == 2
            G2, Z2 = snaps[2]
            for k, v in G2.items(): torch.testing.assert_close(ck['algo']['G'][k], v, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(ck['algo']['Z'], Z2, rtol=1e-4, atol=1e-5)
            resumed = ShardedABP(data, cfg, seed=7)                     # one process continues the 2-rank run
            Learner(resumed, 4, ckpt_dir=d, ckpt_every=2, progress=False).fit()
            G4, Z4 = snaps[4]
            for k, v in G4.items(): torch.testing.assert_close(resumed.G.state_dict()[k], v, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(resumed.Z, Z4, rtol=1e-4, atol=1e-5)
    finally: A.infer_latents = orig


if __name__ == '__main__':
    worker(sys.argv[1], int(sys.argv[2]))
