"""Everything `nbdev_docs` does before quarto renders: refresh the quarto config, build the doc index, and run
nbdev's processors over every notebook (exported, import-only and `show_doc` cells are executed). Fails on any error.
Quarto itself is not installed here; the docs workflow installs it and renders."""
import shutil
import nbdev.quarto as q
from nbdev.config import get_config

if __name__ == '__main__':
    shutil.rmtree(get_config().config_path / '_proc', ignore_errors=True)   # process every notebook, not a cache
    q._ensure_quarto = lambda: None
    q._pre_docs(n_workers=2)
    print('docs processing: every notebook processed')
