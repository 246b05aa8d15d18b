"""Tree ensembles compiled to native code: Treelite's model → TL2cgen's C → a shared library built by a C compiler.

XGBoost Boosters and scikit-learn's forests and boosted trees (RandomForest*, ExtraTrees*,
GradientBoosting*, HistGradientBoosting*) are imported by Treelite; TL2cgen writes C for the ensemble
(`predict`, a row at a time). modelbay adds `modelbay_predict_batch` (rows of doubles, NaN for a missing value:
a few rows through predict(), a batch through the trees as arrays, tree_arrays.py, the same outputs bit for bit)
so the serving side calls the library through ctypes with numpy alone
(container/compiled_models.py). The library is built with the target's compiler (a cross compiler for
another architecture or Windows); such a library cannot run here, so the same C is also built with the
host's compiler, and that build is what verification runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from modelbay.container.neo import tree_arrays
from modelbay.container.neo.errors import CompilationError
from modelbay.container.neo.originals import OriginalModel

SKLEARN_ENSEMBLES = frozenset({
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
    "GradientBoostingClassifier", "GradientBoostingRegressor",
    "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
})
CFLAGS = ("-O3", "-std=c99")
_BATCH_SOURCE = """\
#include "header.h"
#ifdef _WIN32
#define MODELBAY_EXPORT __declspec(dllexport)
#else
#define MODELBAY_EXPORT
#endif
#define MODELBAY_ARRAYS USE_ARRAYS
#define MODELBAY_BLOCK BLOCK_ROWS
#define MODELBAY_GROUP GROUP_ROWS
#if MODELBAY_ARRAYS
void modelbay_finish(union Entry* data, int pred_margin, LEAF_T* result);
void modelbay_forest_block(const union Entry* rows, int32_t n_feature, int64_t count, LEAF_T* out, int32_t width);
#endif

/* modelbay's entry point: every row of `rows` (n_rows x n_cols doubles, NaN: missing) through the trees;
   fewer rows than a group go through TL2cgen's predict(), a batch through the trees' arrays (tree_arrays.py) */
MODELBAY_EXPORT int32_t modelbay_width(void) { return N_TARGET * MAX_N_CLASS; }

static void modelbay_entries(const double* rows, int32_t n_cols, int32_t n_feature, union Entry* row) {
  for (int32_t j = 0; j < n_feature; ++j) {
    double value = j < n_cols ? rows[j] : NAN;
    if (isnan(value)) { row[j].missing = -1; } else { row[j].fvalue = value; }
  }
}

MODELBAY_EXPORT void modelbay_predict_batch(const double* rows, int64_t n_rows, int32_t n_cols,
                                            int32_t pred_margin, LEAF_T* out) {
  int32_t n_feature = get_num_feature();
  int32_t stride = n_feature > 0 ? n_feature : 1;
  int32_t width = N_TARGET * MAX_N_CLASS;
  int64_t block = MODELBAY_ARRAYS && n_rows >= MODELBAY_GROUP ? MODELBAY_BLOCK : 1;
  union Entry* entries = (union Entry*) malloc(sizeof(union Entry) * (size_t) stride * (size_t) block);
  if (entries == NULL) { return; }
  for (int64_t k = 0; k < n_rows * width; ++k) { out[k] = 0; }
  for (int64_t start = 0; start < n_rows; start += block) {
    int64_t count = n_rows - start < block ? n_rows - start : block;
    for (int64_t i = 0; i < count; ++i) {
      modelbay_entries(rows + (start + i) * n_cols, n_cols, n_feature, entries + i * stride);
    }
    LEAF_T* result = out + start * width;
#if MODELBAY_ARRAYS
    if (block > 1) {
      modelbay_forest_block(entries, stride, count, result, width);
      for (int64_t i = 0; i < count; ++i) { modelbay_finish(entries + i * stride, pred_margin, result + i * width); }
      continue;
    }
#endif
    predict(entries, pred_margin, result);
  }
  free(entries);
}
"""
_C_TYPES = {"float32": "float", "float64": "double"}


def is_tree_ensemble(original: OriginalModel) -> bool:
    """Whether the original compiles to native code here."""
    if original.framework == "XGBOOST":
        return True
    classes = original.classes
    single_output = classes is None or all(not isinstance(label, list) for label in classes)
    return original.framework == "SKLEARN" and type(original.model).__name__ in SKLEARN_ENSEMBLES and single_output


def treelite_model(original: OriginalModel) -> Any:
    """The original as a Treelite model; raises CompilationError when Treelite cannot import it."""
    import treelite

    try:
        if original.framework == "XGBOOST":
            return treelite.frontend.from_xgboost(original.model)
        return treelite.sklearn.import_model(original.model)
    except Exception as err:  # Treelite raises TreeliteError or its importers' own errors
        raise CompilationError(f"Treelite cannot import the {type(original.model).__name__}: {err}") from err


def thresholds(model: Any) -> dict[int, list[float]]:
    """Each feature's split thresholds in the Treelite model (to draw sample inputs near them)."""
    found: dict[int, list[float]] = {}
    for tree in json.loads(model.dump_as_json())["trees"]:
        for node in tree["nodes"]:
            if node.get("node_type") == "numerical_test_node":
                found.setdefault(int(node["split_feature_id"]), []).append(float(node["threshold"]))
    return found


def compile_library(model: Any, target: dict[str, Any], out_dir: Path, work_dir: Path) -> dict[str, Any]:
    """Build the target's library into `out_dir`; return the manifest's "native" member.

    When the target is not this machine, also build `work_dir/host/<library>` (the same C for the host)
    and name it in the member's "host_library" for verification.
    """
    import tl2cgen
    import treelite

    sources = work_dir / "c"
    header = json.loads(model.dump_as_json())
    batch_path = _write_sources(model, header, sources)
    library = "model" + target["SharedLibrarySuffix"]
    compiler = target.get("CCompiler")
    if not compiler:
        raise CompilationError(f"no C compiler builds native code for {target['Name']} here")
    _build(compiler, sources, out_dir / library, windows=target["Os"] == "windows")
    native = {"library": library, "c_compiler": compiler, "cflags": list(CFLAGS), "treelite": treelite.__version__,
              "tl2cgen": tl2cgen.__version__, "threshold_type": header["threshold_type"],
              "leaf_output_type": header["leaf_output_type"], "batch_path": batch_path, "host_library": None}
    if compiler != "gcc":
        host = work_dir / "host" / "model.so"
        _build("gcc", sources, host, windows=False)
        native["host_library"] = str(host)
    return native


def _write_sources(model: Any, header: dict[str, Any], sources: Path) -> str:
    """Write TL2cgen's C (the trees as one unit, `predict_unit0`) and modelbay's batch entry point into `sources`;
    return the batch path: "arrays" (tree_arrays.py) or "rows" (predict() a row at a time, for small ensembles
    and those outside the array layout)."""
    import tl2cgen

    tl2cgen.generate_c_code(model, dirpath=str(sources), params={"parallel_comp": 1})
    main = sources / "main.c"
    forest = finish = ""
    try:
        if tree_arrays.worthwhile(header):
            forest = tree_arrays.forest_source(header)
            finish = tree_arrays.finish_function(main.read_text(), units=1)
    except tree_arrays.Unsupported:
        forest = finish = ""
    if forest:
        (sources / "modelbay_forest.c").write_text(forest)
        main.write_text(main.read_text() + finish)
    batch = (_BATCH_SOURCE.replace("LEAF_T", _C_TYPES[header["leaf_output_type"]])
             .replace("USE_ARRAYS", "1" if forest else "0").replace("BLOCK_ROWS", str(tree_arrays.BLOCK))
             .replace("GROUP_ROWS", str(tree_arrays.GROUP)))
    (sources / "modelbay_batch.c").write_text(batch)
    return "arrays" if forest else "rows"


def _build(compiler: str, sources: Path, library: Path, *, windows: bool) -> None:
    """Compile every C file of `sources` into the shared library `library`."""
    program = shutil.which(compiler)
    if program is None:
        raise CompilationError(f"the C compiler {compiler} is not on PATH")
    library.parent.mkdir(parents=True, exist_ok=True)
    position_independent = () if windows else ("-fPIC",)
    command = [program, *CFLAGS, *position_independent, "-shared", "-o", str(library),
               *sorted(str(path) for path in sources.glob("*.c")), "-lm"]
    done = subprocess.run(command, cwd=sources, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CompilationError(f"{compiler} failed to build the compiled model: {done.stderr.strip()[-2000:]}")
