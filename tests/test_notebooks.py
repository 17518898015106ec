"""Every notebook ships as a page a learner can read: title + subtitle, a Colab badge, saved outputs, clean metadata."""
import json, re
from pathlib import Path
import pytest

NBS = sorted((Path(__file__).resolve().parents[1] / 'nbs').glob('*.ipynb'))

@pytest.mark.parametrize('path', NBS, ids=[p.name for p in NBS])
def test_notebook_page(path):
    nb = json.loads(path.read_text())
    cells = nb['cells']
    first = ''.join(cells[0]['source'])
    assert cells[0]['cell_type'] == 'markdown' and first.startswith('# '), f"{path.name}: first cell must be '# Title'"
    assert any(l.startswith('> ') for l in first.splitlines()), f"{path.name}: title cell needs a '> one sentence' subtitle"
    md = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    assert f'colab.research.google.com/github/dynpat/dynpat-nb/blob/main/nbs/{path.name}' in md, f"{path.name}: no Colab badge"
    code = [c for c in cells if c['cell_type'] == 'code']
    assert all(c.get('execution_count') is None for c in code), f"{path.name}: run nbdev_clean"
    shown = [c for c in code if any(o.get('output_type') in ('display_data', 'execute_result') for o in c.get('outputs', []))]
    assert shown, f"{path.name}: no saved figures or animations"
    errors = [o for c in code for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert not errors, f"{path.name}: saved outputs contain an error"

ROOT = Path(__file__).resolve().parents[1]
MACHINE = re.compile(r'(?<![\w.])/(?:work|home|root|tmp|Users)/[\w.-]+')

@pytest.mark.parametrize('path', NBS + [ROOT / 'README.md'] + sorted((ROOT / 'nbs' / 'results').rglob('*.json')),
                         ids=lambda p: p.name)
def test_no_machine_paths(path):
    "No path of one machine in what a reader sees: notebook sources, README, result files (and `/work/` not in outputs either)."
    if path.suffix == '.ipynb':
        cells = json.loads(path.read_text())['cells']
        text = '\n'.join(''.join(c['source']) for c in cells)
        outs = json.dumps([c.get('outputs', []) for c in cells])
        assert '/work/' not in outs, f"{path.name}: a saved output shows a path of this machine"
    else: text = path.read_text()
    hits = MACHINE.findall(text)
    assert not hits, f"{path.name}: paths of one machine: {hits[:3]}"
