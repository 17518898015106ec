"""The `dynpat` console script end to end, on tiny settings: every command, its JSON summary, whole videos of their own
shape, the one-line errors (exit 2) for every bad input, the nothing-lost rules, and a run killed with SIGKILL that
`--resume` finishes exactly as an uninterrupted run."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from dynpat_nb.data import make_texture, write_video, read_video
from dynpat_nb.learner import load_checkpoint
import dynpat_nb
from dynpat_nb.coopnets import Cooperative

DYNPAT = shutil.which('dynpat')
pytestmark = pytest.mark.skipif(DYNPAT is None, reason="the dynpat console script is not installed (pip install -e .)")
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}


def dynpat(*args, ok=True, timeout=300):
    "Run `dynpat args...`; return (exit code, parsed JSON summary or None, stderr)."
    p = subprocess.run([DYNPAT, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)
    lines = p.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if p.returncode == 0 and lines else None
    if ok: assert p.returncode == 0, f"dynpat {' '.join(map(str, args))} failed:\n{p.stderr[-2000:]}"
    return p.returncode, summary, p.stderr


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp('videos')
    write_video(make_texture('water', frames=32, size=32, seed=0), d / 'water.mp4')
    write_video(make_texture('flag', frames=16, size=32, seed=1), d / 'flag.gif')
    mask = torch.zeros(1, 16, 32, 32); mask[:, 4:12, 8:20, 10:22] = 1            # white = remove
    write_video(mask * 2 - 1, d / 'mask.mp4')
    write_video(torch.zeros(1, 16, 24, 40), d / 'wide_mask.mp4')              # another aspect ratio
    v = make_texture('water', frames=40, size=40, seed=2)[:, :, 8:32]           # 40 frames of 24x40: not square
    write_video(v, d / 'wide.mp4')
    m = -torch.ones(1, 40, 24, 40); m[:, :, 6:16, 10:22] = 1
    write_video(m, d / 'wide_mask_ok.mp4')
    write_video(torch.ones(1, 40, 24, 40), d / 'white.mp4')                     # removes everything
    return d


def test_help_lists_examples():
    p = subprocess.run([DYNPAT, '--help'], capture_output=True, text=True, env=ENV)
    assert p.returncode == 0 and 'examples:' in p.stdout
    for cmd in ('demo', 'fit', 'synthesize', 'recover', 'inpaint'):
        p = subprocess.run([DYNPAT, cmd, '--help'], capture_output=True, text=True, env=ENV)
        assert p.returncode == 0 and 'examples:' in p.stdout and f'dynpat {cmd}' in p.stdout, cmd
    p = subprocess.run([DYNPAT, 'fit', '--help'], capture_output=True, text=True, env=ENV)
    assert '--model coop' in p.stdout and 'coop:' in p.stdout                # CoopNets is offered


def test_demo(tmp_path):
    _, s, err = dynpat('demo', '--out', tmp_path / 'demo', '--iters', 3, '--quiet')
    assert s['command'] == 'demo' and all(Path(f).exists() for f in s['videos'])
    assert {Path(f).stem for f in s['videos']} >= {'training', 'occluded', 'recovered', 'synthesized_0', 'synthesized_longer'}
    assert 'heat diffusion' in err and s['error_255'] > 0 and s['heat_diffusion_error_255'] > 0


def test_fit_synthesize_recover(tmp_path, videos):
    out = tmp_path / 'fit'
    _, s, _ = dynpat('fit', videos / 'water.mp4', '--model', 'abp-1', '--iters', 4, '--ckpt-every', 2, '--out', out, '--quiet')
    assert s['clips'] == 2 and s['iterations'] == 4 and Path(s['model_path']).exists()
    assert load_checkpoint(out / 'checkpoint.pt')['iteration'] == 4
    # model-1 synthesizes longer and larger videos than it learned from
    _, s, _ = dynpat('synthesize', out / 'model.pt', '--n', 2, '--frames', 32, '--size', 64, 64, '--out', tmp_path / 'syn')
    assert s['shape'] == [3, 32, 64, 64] and len(s['videos']) == 4
    # test-stage recovery with the learned generator; error printed next to heat diffusion
    _, s, err = dynpat('recover', videos / 'water.mp4', '--mask', 'pixels', '--model', 'abp-1',
                       '--checkpoint', out / 'model.pt', '--out', tmp_path / 'rec')
    assert s['error_255'] > 0 and s['heat_diffusion_error_255'] > 0 and 'heat diffusion' in err
    assert s['sigma'] == 0.5 and s['recipe'] == 'paper'        # the paper's: the learning σ
    _, s, _ = dynpat('recover', videos / 'water.mp4', '--mask', 'pixels', '--checkpoint', out / 'model.pt', '--recipe', 'half-sigma',
                     '--out', tmp_path / 'rec2')
    assert s['sigma'] == 0.2 and s['recipe'] == 'half-sigma'   # half of it, at most 0.2
    _, s, _ = dynpat('recover', videos / 'water.mp4', '--mask', 'pixels', '--checkpoint', out / 'model.pt', '--sigma', 0.3,
                     '--out', tmp_path / 'rec3')
    assert s['sigma'] == 0.3 and s['model'] == 'abp-1'
    code, _, err = dynpat('recover', videos / 'water.mp4', '--mask', 'pixels', '--checkpoint', out / 'model.pt', '--sigma', 0,
                          '--out', tmp_path / 'rec0', ok=False)
    assert code == 2 and '--sigma' in err and 'positive' in err
    code, _, err = dynpat('recover', videos / 'water.mp4', '--mask', 'pixels', '--sigma', 0.3, '--out', tmp_path / 'rec4', ok=False)
    assert code == 2 and 'needs --checkpoint' in err
    # a model-1 learned with σ = 0.2 recovers, by default, with half of it
    _, s, _ = dynpat('fit', videos / 'water.mp4', '--model', 'abp-1', '--iters', 2, '--sigma', 0.2, '--out', tmp_path / 'fit2', '--quiet')
    assert dynpat_nb.load(tmp_path / 'fit2' / 'model.pt').learned_with.sigma == 0.2
    _, s, _ = dynpat('recover', videos / 'water.mp4', '--mask', 'pixels', '--checkpoint', tmp_path / 'fit2' / 'model.pt',
                     '--recipe', 'half-sigma', '--out', tmp_path / 'rec5')
    assert s['sigma'] == 0.1
    # resuming it without its --sigma would silently change the model: refused, naming the setting
    code, _, err = dynpat('fit', videos / 'water.mp4', '--model', 'abp-1', '--iters', 4, '--out', tmp_path / 'fit2', '--resume', ok=False)
    assert code == 2 and 'sigma 0.2 there, 0.5 now' in err, err
    for bad, msg in ((('--sigma', -1), 'positive number'), (('--sigma', 0.2, '--model', 'descriptor-st'), 'not of --model')):
        code, _, err = dynpat('fit', videos / 'water.mp4', '--iters', 2, *bad, '--out', tmp_path / 'fit3', ok=False)
        assert code == 2 and msg in err, err
    # a fresh run in the same folder must not silently overwrite it
    code, _, err = dynpat('fit', videos / 'water.mp4', '--iters', 4, '--out', out, ok=False)
    assert code == 2 and '--resume' in err


@pytest.mark.parametrize('mask', ['salt-pepper', 'missing-frames', 'random-frames'])
def test_recover_learning_while_completing(tmp_path, videos, mask):
    model = 'abp-2' if mask == 'random-frames' else 'descriptor-st'
    _, s, _ = dynpat('recover', videos / 'flag.gif', '--mask', mask, '--model', model, '--iters', 2, '--out', tmp_path, '--quiet')
    assert s['mask'] == mask and s['error_255'] > 0 and (tmp_path / 'recovered.mp4').exists()
    assert s['shape'] == [3, 16, 32, 32]


def test_inpaint_with_mask_video(tmp_path, videos):
    _, s, _ = dynpat('inpaint', videos / 'flag.gif', videos / 'mask.mp4', '--iters', 2, '--out', tmp_path, '--quiet')
    assert s['command'] == 'inpaint' and (tmp_path / 'inpainted.gif').exists() and 'error_255' not in s
    assert s['recipe'] == 'paper' and s['model'] == 'abp-1'


def test_descriptor_fit_and_synthesize(tmp_path, videos):
    _, s, _ = dynpat('fit', videos / 'flag.gif', '--model', 'descriptor-st', '--iters', 2, '--out', tmp_path / 'd', '--quiet')
    _, s, _ = dynpat('synthesize', s['model_path'], '--n', 1, '--steps', 3, '--out', tmp_path / 's')
    assert len(s['videos']) == 2


def test_coop_fit_and_longer_synthesis(tmp_path, videos):
    "--model coop: CoopNets on the clip at its working size, then synthesis from model.pt (longer) and from checkpoint.pt."
    _, s, _ = dynpat('fit', videos / 'water.mp4', '--model', 'coop', '--frames', 10, '--iters', 3, '--n-synth', 1,
                     '--out', tmp_path / 'c', '--quiet')
    assert (s['model'], s['frames'], s['size'], s['iterations']) == ('coop', 8, [32, 32], 3)
    assert '10 frames: used 8' in s['note']                                # 8: a multiple of the temporal up-sampling 4
    assert read_video(tmp_path / 'c' / 'synthesized_0.mp4').shape == (3, 8, 32, 32)
    assert isinstance(dynpat_nb.load(s['model_path']), Cooperative)
    _, s2, _ = dynpat('synthesize', s['model_path'], '--n', 2, '--frames', 16, '--out', tmp_path / 's')
    assert s2['shape'] == [3, 16, 32, 32] and len(s2['videos']) == 4
    assert read_video(tmp_path / 's' / 'synthesized_1.mp4').shape == (3, 16, 32, 32)
    _, s3, _ = dynpat('synthesize', s['checkpoint'], '--n', 1, '--steps', 2, '--out', tmp_path / 's3')
    assert s3['shape'] == [3, 8, 32, 32]
    for args, words in [(('synthesize', s['model_path'], '--frames', 6, '--out', tmp_path / 'e1'), 'multiple of 4'),
                        (('synthesize', s['model_path'], '--size', 16, 16, '--out', tmp_path / 'e2'), '32x32 frames only'),
                        (('fit', videos / 'water.mp4', '--model', 'coop', '--size', 32, 24, '--out', tmp_path / 'e3'), 'square'),
                        (('recover', videos / 'water.mp4', '--mask', 'block', '--checkpoint', s['model_path'], '--out', tmp_path / 'e4'), 'coop model'),
                        (('recover', videos / 'water.mp4', '--mask', 'block', '--model', 'coop', '--out', tmp_path / 'e5'), 'fit and synthesize')]:
        rc, _, err = dynpat(*args, ok=False)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and words in err, (args, err)


@pytest.mark.parametrize('reference', ['gmrf', 'spectral'])
def test_descriptor_fitted_reference(tmp_path, videos, reference):
    "--reference gmrf/spectral: the model is saved with its fitted reference, synthesizes from it, and recovery runs with it."
    recipe = ('--recipe', 'spectral-synthesis') if reference == 'spectral' else ('--reference', reference)
    _, s, _ = dynpat('fit', videos / 'flag.gif', '--model', 'descriptor-st', *recipe, '--iters', 2, '--out', tmp_path / 'd', '--quiet')
    net = dynpat_nb.load(s['model_path'])
    assert net.reference == reference                          # saved with its fitted reference (19_references)
    _, s, _ = dynpat('synthesize', s['model_path'], '--n', 1, '--steps', 3, '--out', tmp_path / 's')
    assert len(s['videos']) == 2
    _, s, _ = dynpat('recover', videos / 'flag.gif', '--mask', 'salt-pepper', '--model', 'descriptor-st', '--recipe', f'fitted-{reference}',
                     '--iters', 2, '--out', tmp_path / 'r', '--quiet')
    assert s['error_255'] > 0 and s['recipe'] == f'fitted-{reference}'


def test_errors_are_one_line_with_exit_code_2(tmp_path, videos):
    bad = tmp_path / 'bad.mp4'; bad.write_text('not a video')
    trunc = tmp_path / 'trunc.pt'
    dynpat('fit', videos / 'water.mp4', '--iters', 1, '--out', tmp_path / 'm', '--quiet')
    trunc.write_bytes((tmp_path / 'm' / 'model.pt').read_bytes()[:500])
    cases = [
        (['fit', tmp_path / 'missing.mp4'], 'missing.mp4'),
        (['fit', bad], 'bad.mp4'),
        (['fit', videos / 'water.mp4', '--model', 'gan'], 'gan'),
        (['fit', videos / 'water.mp4', '--model', 'abp-1', '--frames', 20], 'multiple'),
        (['recover', videos / 'flag.gif', '--mask', videos / 'wide_mask.mp4', '--model', 'descriptor-st'], 'aspect ratio'),
        (['recover', videos / 'flag.gif', '--mask', 'no-such-mask'], 'no-such-mask'),
        (['fit', videos / 'water.mp4', '--model', 'abp-1', '--reference', 'gmrf'], '--reference'),
        (['synthesize', trunc], 'trunc.pt'),
        (['synthesize', videos / 'water.mp4'], 'water.mp4'),
        (['recover', videos / 'flag.gif', '--mask', 'block', '--model', 'abp-3', '--checkpoint', tmp_path / 'm' / 'model.pt'], 'model.pt'),
    ]
    for args, needle in cases:
        code, _, err = dynpat(*args, '--out', tmp_path / 'o', ok=False)
        lines = err.strip().splitlines()
        assert code == 2, (args, err[-500:])
        assert len(lines) == 1 and lines[0].startswith('dynpat') and needle in lines[0], (args, err)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, videos):
    args = ['fit', videos / 'water.mp4', '--model', 'abp-1', '--iters', 12, '--ckpt-every', 3, '--quiet', '--n-synth', 1]
    dynpat(*args, '--out', tmp_path / 'ref')
    out = tmp_path / 'killed'
    p = subprocess.Popen([DYNPAT, *map(str, args), '--out', str(out)], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck, deadline = out / 'checkpoint.pt', time.time() + 240
    while time.time() < deadline and p.poll() is None:
        if ck.exists() and load_checkpoint(ck)['iteration'] >= 3: break
        time.sleep(0.02)
    if p.poll() is not None: pytest.skip("the run finished before it could be killed (machine too fast)")
    p.send_signal(signal.SIGKILL); p.wait()
    reached = load_checkpoint(ck)['iteration']
    assert 3 <= reached < 12
    _, s, _ = dynpat(*args, '--out', out, '--resume')
    assert s['iterations'] == 12
    a, b = load_checkpoint(tmp_path / 'ref' / 'model.pt'), load_checkpoint(out / 'model.pt')
    for k, v in a['generator'].items(): assert torch.equal(v, b['generator'][k]), k


def test_fit_distributed_two_processes(tmp_path, videos):
    "`torchrun` with 2 CPU processes (gloo): videos and latents split by rank; rank 0 writes the outputs and the summary."
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29533', DYNPAT, 'fit',
           str(videos / 'water.mp4'), '--model', 'abp-1', '--iters', '2', '--out', str(tmp_path / 'dist'), '--quiet', '--distributed']
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert p.returncode == 0, p.stderr[-3000:]
    summaries = [json.loads(l) for l in p.stdout.splitlines() if l.startswith('{')]
    assert len(summaries) == 1 and summaries[0]['iterations'] == 2
    assert load_checkpoint(tmp_path / 'dist' / 'checkpoint.pt')['algo']['Z'].shape[0] == 2   # both clips' latents, gathered


def test_distributed_without_launcher_is_a_clear_error(tmp_path, videos):
    code, _, err = dynpat('fit', videos / 'water.mp4', '--distributed', '--out', tmp_path, ok=False)
    assert code == 2 and 'torchrun' in err and len(err.strip().splitlines()) == 1


def test_whole_video_keeps_its_shape(tmp_path, videos):
    "A non-square 40-frame video through `recover` and `inpaint`: every frame back, at its own size, observed pixels kept."
    _, s, _ = dynpat('recover', videos / 'wide.mp4', '--mask', 'block', '--model', 'abp-1', '--iters', 2, '--out', tmp_path / 'r', '--quiet')
    assert s['shape'] == [3, 40, 24, 40] and s['clips'] == 3 and s['error_255'] > 0
    assert read_video(tmp_path / 'r' / 'recovered.mp4').shape == (3, 40, 24, 40)
    _, s, _ = dynpat('inpaint', videos / 'wide.mp4', videos / 'wide_mask_ok.mp4', '--model', 'descriptor-st', '--recipe', 'fitted-gmrf', '--iters', 2,
                     '--out', tmp_path / 'i', '--quiet')
    out, inp = read_video(tmp_path / 'i' / 'inpainted.mp4'), read_video(tmp_path / 'i' / 'input.mp4')
    assert s['shape'] == [3, 40, 24, 40] and out.shape == inp.shape
    keep = torch.ones(40, 24, 40, dtype=torch.bool); keep[:, 4:18, 8:24] = False      # away from the mask and its codec blur
    assert (out - inp).abs()[:, keep].mean() * 127.5 < 2                              # the observed pixels are the input's


def test_nothing_lost(tmp_path, videos):
    ws = tmp_path / 'ws'; ws.mkdir()
    shutil.copy(videos / 'wide.mp4', ws / 'input.mp4')
    before = (ws / 'input.mp4').read_bytes()
    code, _, err = dynpat('recover', ws / 'input.mp4', '--mask', 'block', '--iters', 2, '--out', ws, ok=False)
    assert code == 2 and 'write over the input' in err and len(err.strip().splitlines()) == 1
    assert (ws / 'input.mp4').read_bytes() == before and not (ws / 'recovered.mp4').exists()
    # fit DIR --out DIR: the second run learns from the same videos, not from the first run's outputs
    shutil.copy(videos / 'water.mp4', ws / 'water.mp4'); (ws / 'input.mp4').unlink()
    _, s, _ = dynpat('fit', ws, '--iters', 2, '--ckpt-every', 1, '--out', ws, '--quiet')
    assert s['clips'] == 2 and (ws / 'training.mp4').exists()
    for f in ('history.csv', 'history.png'): assert (ws / f).exists()
    assert (ws / 'history.csv').read_text().splitlines()[0].startswith('iter,mse')
    (ws / 'checkpoint.pt.x1y2.tmp').write_bytes(b'half a checkpoint')                  # left by a kill
    _, s, _ = dynpat('fit', ws, '--iters', 3, '--out', ws, '--resume', '--quiet')
    assert s['iterations'] == 3 and s['clips'] == 2 and not (ws / 'checkpoint.pt.x1y2.tmp').exists()
    # --resume with other videos is refused
    write_video(make_texture('fire', frames=32, size=32, seed=0), ws / 'more.mp4')
    code, _, err = dynpat('fit', ws, '--iters', 4, '--out', ws, '--resume', ok=False)
    assert code == 2 and 'other videos' in err, err


def test_bad_inputs_exit_2_with_one_line(tmp_path, videos):
    trunc = tmp_path / 'cut.mkv'
    ffmpeg = __import__('imageio_ffmpeg').get_ffmpeg_exe()
    subprocess.run([ffmpeg, '-loglevel', 'error', '-y', '-i', str(videos / 'water.mp4'), '-c', 'copy', str(tmp_path / 'whole.mkv')], check=True)
    trunc.write_bytes((tmp_path / 'whole.mkv').read_bytes()[: (tmp_path / 'whole.mkv').stat().st_size // 2])
    busy = tmp_path / 'busy'; busy.mkdir(); (busy / '.dynpat.lock').write_text(str(os.getpid()))   # a live run holds it
    w = videos / 'water.mp4'
    cases = [
        (['recover', w, '--mask', 'block', '--device', 'bogus'], '--device bogus'),
        (['fit', w, '--n-synth', -1], '--n-synth'),
        (['synthesize', w, '--n', -2], '--n'),
        (['synthesize', w, '--n', 0], '--n'),
        (['demo', '--iters', 0], '--iters'),
        (['fit', w, '--iters', 0], '--iters'),
        (['fit', w, '--sigma', 'inf'], '--sigma'),
        (['recover', videos / 'wide.mp4', '--mask', videos / 'white.mp4'], 'white.mp4'),
        (['inpaint', videos / 'wide.mp4', videos / 'white.mp4'], 'white.mp4'),
        (['recover', trunc, '--mask', 'block'], 'frames'),
        (['recover', w, '--mask', 'block', '--out', busy], 'another dynpat run'),
        (['recover', w, '--mask', 'block', '--size', 'big'], '--size'),
    ]
    if not (getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available()):
        cases.append((['recover', w, '--mask', 'block', '--device', 'mps'], 'mps'))
    for args, needle in cases:
        if '--out' not in args: args = [*args, '--out', tmp_path / 'o']
        code, _, err = dynpat(*args, ok=False)
        lines = err.strip().splitlines()
        assert code == 2, (args, err[-500:])
        assert len(lines) == 1 and lines[0].startswith('dynpat') and needle in lines[0], (args, err)
    assert 'truncated' in dynpat('recover', trunc, '--mask', 'block', '--out', tmp_path / 'o', ok=False)[2]


def test_version_and_internal_errors(monkeypatch, capsys):
    p = subprocess.run([DYNPAT, '--version'], capture_output=True, text=True, env=ENV)
    assert p.returncode == 0 and p.stdout.startswith('dynpat ')
    from dynpat_nb import cli
    def bug(args): raise ValueError("an internal inconsistency")                     # a bug, not the user's mistake
    monkeypatch.setitem(cli.COMMANDS, 'demo', bug)
    assert cli.main(['demo']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'internal error' in err[0] and '--debug' in err[0]
    assert cli.main(['demo', '--debug']) == 1 and 'Traceback' in capsys.readouterr().err


def test_ctrl_c_says_how_to_resume(tmp_path, videos):
    out = tmp_path / 'run'
    p = subprocess.Popen([DYNPAT, 'fit', str(videos / 'water.mp4'), '--iters', '400', '--ckpt-every', '1', '--quiet', '--out', str(out)],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not (out / 'checkpoint.pt').exists(): time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=60)[1].strip().splitlines()
    assert p.returncode == 130 and len(err) == 1 and '--resume' in err[0], err
    assert not (out / '.dynpat.lock').exists()
