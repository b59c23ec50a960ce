"""The structured design: what RTL generation writes, what the estimate and the fold search read."""
import copy
import tempfile

from flows.backends.design import build_design
from flows.backends.rtl_library import MODULE_DEPS, with_deps
from flows.backends.rtlgen import top_verilog
from flows.boards import load_board
from flows.build import fold
from flows.estimates import analytic
from flows.ops import FOLDABLE, HwOp, custom_op


def test_every_op_is_one_registered_hwop_class():
    for op_type, cls in custom_op.items():
        assert cls.__name__ == op_type and cls.__bases__ == (HwOp,)
        assert cls.rtl is not HwOp.rtl, f"{op_type} has no RTL instance"
    assert set(FOLDABLE) == {t for t, c in custom_op.items() if c.FOLDS}


def test_dependencies_are_library_modules():
    for module, deps in MODULE_DEPS.items():
        assert set(with_deps(module)) >= {module, *deps} and set(deps) <= set(analytic.MODELS)


def test_written_top_is_the_design(tfc_build):
    cfg, model = tfc_build
    design = build_design(model)
    assert cfg.path("rtl", "bnn_top.v").read_text() == top_verilog(design)
    assert {layer["name"] for layer in design.layers} == {i.layer for i in design.instances}
    assert sorted(p.name for p in cfg.path("rtl").glob("*.hex")) == sorted(m.file for m in design.memories)


def test_fit_search_writes_no_files(tfc_build, tmp_path, monkeypatch):
    """Run in an empty folder that is also the temporary-file folder: the search leaves it empty."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = copy.deepcopy(tfc_build[1])
    fit = fold.AnalyticFit(load_board("Pynq-Z2"), 0.85)
    fold.fold_to_budget(model, fit)
    assert fit.totals and not any(tmp_path.iterdir())
