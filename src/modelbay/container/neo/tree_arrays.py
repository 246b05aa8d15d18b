"""A tree ensemble as C arrays, traversed without branches: the compiled library's batch path.

TL2cgen's C (a nest of ifs per tree) is fast for one row, but a batch ran every row through all trees' code:
a 100-tree forest is a megabyte of machine code, so each row missed the instruction cache at nearly every node
it visited (cachegrind: a fifth of all instruction fetches) and mispredicted about three branches a tree.
Here the same trees are tables of nodes; a batch is cut into blocks of rows, and each tree runs over a whole
block (its nodes stay in cache), eight rows at a time stepping down in lockstep: a leaf loops onto itself and
every row takes the tree's depth in steps, each a load, a compare and a select, so no branch depends on the data.

The result is the same, bit for bit, as TL2cgen's predict: the same tests (`<=` or `<` on the threshold in the
threshold type, a missing value — Treelite's `missing == -1` — going the default way), the leaves added to each
row's result in tree order with the C conversions of TL2cgen's `result[k] += <literal>` (a float leaf is added
as the double of its shortest decimal), and TL2cgen's own code after the trees (averaging, base scores,
postprocessing) as `modelbay_finish`. Ensembles outside this layout (categorical splits, mixed comparison
operators, a leaf layout not one of TL2cgen's per-class ones) keep the row-at-a-time path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy

GROUP = 8  # rows stepping down a tree together (measured: 4 and 16 slower)
BLOCK = 256  # rows each tree runs over before the next
# Fewer nodes than this: TL2cgen's code stays in the instruction cache and is faster a row at a time too
# (measured: 10 trees 2-3x faster as code; GradientBoosting's 100 trees of depth 3, 1,480 nodes, even;
# XGBoost's 100 rounds of depth 6, 5,396 nodes, 2x faster as arrays).
MIN_NODES = 4000
_C_TYPES = {"float32": "float", "float64": "double"}
_PREDICT = re.compile(r"\nvoid predict\(union Entry\* data, int pred_margin, (\w+)\* result\) \{\n(.*?)\n\}\n", re.S)
_UNIT_CALL = re.compile(r"^ *predict_unit\d+\(data, result\);\n", re.M)


class Unsupported(Exception):
    """An ensemble the array layout does not cover (it keeps TL2cgen's row-at-a-time path)."""


@dataclass
class _Tables:
    nodes: list[str]  # C initialisers of mb_node
    leaves: list[str]  # leaf values, as C double literals
    trees: list[str]  # C initialisers of mb_tree


def finish_function(main_c: str, units: int) -> str:
    """`modelbay_finish`: TL2cgen's predict without its calls of the trees (what it does after them)."""
    found = _PREDICT.search(main_c)
    if found is None:
        raise Unsupported("TL2cgen's predict() is not in the expected form")
    body, removed = _UNIT_CALL.subn("", found.group(2))
    if removed != units:
        raise Unsupported(f"TL2cgen's predict() calls {removed} tree units, not {units}")
    return f"\nvoid modelbay_finish(union Entry* data, int pred_margin, {found.group(1)}* result) {{\n{body}\n}}\n"


def worthwhile(model: dict[str, Any]) -> bool:
    """Whether Treelite's JSON dump `model` is large enough for the array path to beat TL2cgen's code."""
    return sum(len(tree["nodes"]) for tree in model["trees"]) >= MIN_NODES


def forest_source(model: dict[str, Any]) -> str:
    """The C of `modelbay_forest_block` for Treelite's JSON dump `model`; raises Unsupported."""
    threshold_type = _C_TYPES[model["threshold_type"]]
    operators = {node["comparison_op"] for tree in model["trees"] for node in tree["nodes"] if "comparison_op" in node}
    if len(operators) > 1 or any(tree.get("has_categorical_split") for tree in model["trees"]):
        raise Unsupported("categorical splits or mixed comparison operators")
    operator = operators.pop() if operators else "<="
    tables = _Tables([], [], [])
    for number, tree in enumerate(model["trees"]):
        _add_tree(tables, model, number, tree, model["leaf_output_type"] == "float32")
    leaf_type = _C_TYPES[model["leaf_output_type"]]
    return (_FOREST.replace("@THRESHOLD_T@", threshold_type).replace("@LEAF_T@", leaf_type)
            .replace("@OPERATOR@", operator).replace("@NODES@", ",\n".join(tables.nodes))
            .replace("@LEAVES@", ", ".join(tables.leaves)).replace("@TREES@", ",\n".join(tables.trees))
            .replace("@GROUP_SIZE@", str(GROUP)))


def _add_tree(tables: _Tables, model: dict[str, Any], number: int, tree: dict[str, Any], float_leaves: bool) -> None:
    """Append one tree's nodes (leaves looping onto themselves), leaf values and mb_tree to `tables`."""
    by_id = {int(node["node_id"]): node for node in tree["nodes"]}
    index = {node_id: len(tables.nodes) + position for position, node_id in enumerate(sorted(by_id))}
    widths = set()
    for node_id in sorted(by_id):
        node = by_id[node_id]
        if "leaf_value" in node:
            values = node["leaf_value"] if isinstance(node["leaf_value"], list) else [node["leaf_value"]]
            widths.add(len(values))
            me = index[node_id]
            tables.nodes.append(f"{{0, 0, {{{me}, {me}}}, 1, {len(tables.leaves)}}}")
            tables.leaves.extend(_leaf_literal(float(value), float_leaves) for value in values)
        elif node.get("node_type") == "numerical_test_node":
            tables.nodes.append(f"{{{float(node['threshold'])!r}, {int(node['split_feature_id'])}, "
                                f"{{{index[node['left_child']]}, {index[node['right_child']]}}}, "
                                f"{int(node['default_left'])}, -1}}")
        else:
            raise Unsupported(f"a {node.get('node_type')} node")
    output = _output(model, number, widths)
    tables.trees.append(f"{{{index[0]}, {_depth(by_id)}, {output}, {widths.pop()}}}")


def _output(model: dict[str, Any], number: int, widths: set[int]) -> int:
    """Where tree `number`'s leaves add into a row's result (TL2cgen: target * MAX_N_CLASS + class)."""
    target, klass, most = int(model["target_id"][number]), int(model["class_id"][number]), int(max(model["num_class"]))
    if target == -1 and int(model["num_target"]) == 1:  # "every target" of a single-target model
        target = 0
    whole_class_vector = klass == -1 and widths == {int(model["num_class"][max(target, 0)])}
    if len(widths) != 1 or target < 0 or not (klass >= 0 and widths == {1} or whole_class_vector):
        raise Unsupported("a leaf layout other than one value per class or one vector per target")
    return target * most + max(klass, 0)


def _depth(by_id: dict[int, dict[str, Any]]) -> int:
    deepest, pending = 0, [(0, 0)]
    while pending:
        node_id, depth = pending.pop()
        deepest = max(deepest, depth)
        node = by_id[node_id]
        if "leaf_value" not in node:
            pending += [(int(node["left_child"]), depth + 1), (int(node["right_child"]), depth + 1)]
    return deepest


def _leaf_literal(value: float, float_leaves: bool) -> str:
    """The double TL2cgen's literal stands for: a float leaf printed as its shortest decimal."""
    return repr(float(str(numpy.float32(value)))) if float_leaves else repr(value)


_FOREST = """\
#include "header.h"

typedef struct {
  @THRESHOLD_T@ threshold; int32_t feature; int32_t child[2]; int32_t default_left; int32_t leaf;  /* -1: a test */
} mb_node;
typedef struct { int32_t root; int32_t depth; int32_t out; int32_t n_values; } mb_tree;
static const mb_node mb_nodes[] = {
@NODES@
};
static const double mb_leaves[] = { @LEAVES@ };
static const mb_tree mb_trees[] = {
@TREES@
};
#define MB_TREES ((int32_t) (sizeof(mb_trees) / sizeof(mb_trees[0])))
#define MB_GROUP @GROUP_SIZE@

static inline int32_t mb_step(const union Entry* row, int32_t n) {
  const mb_node* node = &mb_nodes[n];
  union Entry entry = row[node->feature];
  int32_t left = entry.missing == -1 ? node->default_left : (entry.fvalue @OPERATOR@ node->threshold);
  return node->child[!left];
}

static inline void mb_add(const mb_tree* tree, int32_t leaf, @LEAF_T@* result) {
  const double* values = mb_leaves + mb_nodes[leaf].leaf;
  for (int32_t k = 0; k < tree->n_values; ++k) { result[tree->out + k] += values[k]; }
}

/* every tree, in order, over `count` rows (`n_feature` entries each) into their results (`width` each) */
void modelbay_forest_block(const union Entry* rows, int32_t n_feature, int64_t count, @LEAF_T@* out, int32_t width) {
  for (int32_t t = 0; t < MB_TREES; ++t) {
    const mb_tree* tree = &mb_trees[t];
    int64_t r = 0;
    for (; r + MB_GROUP <= count; r += MB_GROUP) {
      int32_t n[MB_GROUP];
      for (int g = 0; g < MB_GROUP; ++g) { n[g] = tree->root; }
      for (int32_t d = 0; d < tree->depth; ++d) {
        for (int g = 0; g < MB_GROUP; ++g) { n[g] = mb_step(rows + (r + g) * n_feature, n[g]); }
      }
      for (int g = 0; g < MB_GROUP; ++g) { mb_add(tree, n[g], out + (r + g) * width); }
    }
    for (; r < count; ++r) {
      int32_t n = tree->root;
      for (int32_t d = 0; d < tree->depth; ++d) { n = mb_step(rows + r * n_feature, n); }
      mb_add(tree, n, out + r * width);
    }
  }
}
"""
