"""Run the stages of a build on the engine into ``profile.parquet``, timing each step.

With one stage (every tag of a SQL kind) this is the plan of :func:`portrait.compile.plan_queries`:
the users query and the per-user relations into temp tables, then one assembly query written
to Parquet. With more, each stage's assembly is a view ``t_stage_<i>``, its Python columns are
computed from the columns they read of it and registered as ``t_python_<i>``, and the next stage
starts from the two joined on ``uid``: the assembly runs once for the Python columns' inputs and
once more, streamed, into the next stage, so no stage's whole profile is held in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from sqlglot import exp

from portrait.compile.assembly import (
    USERS_TABLE,
    add_levels,
    join_columns,
    profile_query,
    split_parts,
    stage_queries,
)
from portrait.compile.parts import BuildContext
from portrait.engine import Engine
from portrait.errors import BuildError, PortraitError
from portrait.model.tags import TagSet
from portrait.profile.computers.base import ArrowColumn
from portrait.profile.computers.stages import Stage, collect_parts, plan_stages
from portrait.progress import Progress, step

#: the timings key of the users query
USERS_STEP = "attribute+bucket"
#: the timings key of the last assembly, written to Parquet
WRITE_STEP = "assemble+derived+write"
_COMPUTE_HINT = "check the tag definitions of this group (portrait tags show NAME)"
_ASSEMBLE_HINT = "a derived tag or a type may be wrong (portrait tags show NAME)"

T = TypeVar("T")


class _Steps:
    """Runs the build's steps: times each under its label, advances the progress bar, and turns
    a failure into a :class:`BuildError` saying which step failed."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.timings: dict[str, float] = {}

    def run(self, label: str, failed: str, hint: str, work: Callable[..., T], *args: Any) -> T:
        t0 = time.perf_counter()
        try:
            result = work(*args)
        except PortraitError:
            raise
        except Exception as exc:  # the engine's own error type varies by engine
            raise BuildError(f"{failed}: {_first_line(exc)}", hint=_hint(exc, hint)) from exc
        self.timings[label] = time.perf_counter() - t0
        self.bar.advance()
        return result

    def compute(self, label: str, work: Callable[..., T], *args: Any) -> T:
        return self.run(label, f"computing {label} failed", _COMPUTE_HINT, work, *args)

    def assemble(self, label: str, work: Callable[..., T], *args: Any) -> T:
        return self.run(label, "assembling the profile failed", _ASSEMBLE_HINT, work, *args)


def compute_profile(
    engine: Engine,
    context: BuildContext,
    compute: set[str],
    target: Path,
    progress: Progress,
    *,
    reuse_relation: str | None = None,
) -> dict[str, float]:
    """Compute the tags ``compute`` (the others are read from ``reuse_relation``, the previous
    profile keyed by uid) into ``target``; seconds per step, in order."""
    tags = context.tags
    stages = plan_stages(collect_parts(tags, compute, context), tags)
    first = stage_queries(
        stages[0].sql,
        tags,
        reused=[n for n in tags if n not in compute],
        reuse_relation=reuse_relation,
        final=len(stages) == 1,
    )
    total = 1 + len(first.relations) + len(stages) + sum(len(s.python) for s in stages)
    with step(progress, "compute tags", total=total) as bar:
        steps = _Steps(bar)
        steps.compute(USERS_STEP, engine.materialize, USERS_TABLE, first.users)
        for relation in first.relations:
            steps.compute(relation.label, engine.materialize, relation.table, relation.query)
        assert first.assemble is not None
        assembled: exp.Select = first.assemble
        for i, stage in enumerate(stages):
            if i:  # the previous stage's table joined with its Python columns
                computed = [c.tag for c in stages[i - 1].python]
                _, _, expressions = split_parts(stage.sql, tags)
                joined = join_columns(f"t_stage_{i - 1}", f"t_python_{i - 1}", computed)
                assembled = add_levels(joined, expressions, tags)
            if i == len(stages) - 1:
                final = profile_query(assembled, tags) if i else assembled
                steps.assemble(WRITE_STEP, engine.to_parquet, final, target)
            else:
                # A view, not a table: the Python columns read a few of its columns and the
                # next stage streams it into the next, so the whole profile is never held.
                table = f"t_stage_{i}"
                label = f"assemble+derived (stage {i + 1})"
                steps.assemble(label, engine.create_view, table, assembled)
                columns = _python_columns(engine, table, stage, tags, steps)
                engine.register_arrow(f"t_python_{i}", columns)
    return steps.timings


def _python_columns(
    engine: Engine, stage_table: str, stage: Stage, tags: TagSet, steps: _Steps
) -> pa.Table:
    """``uid`` and the stage's Python columns, in order, each computed from ``uid``, ``user_id``
    and the tag's dependencies (read from ``stage_table``, or computed before in this stage)."""
    done: dict[str, pa.ChunkedArray] = {}
    uid = pa.chunked_array([], pa.int64())
    for column in stage.python:
        tag = column.tag
        values, uid = steps.compute(
            f"{tag.kind}:{tag.name}", _python_column, engine, stage_table, tags, column, done
        )
        done[tag.name] = values
    return pa.table({"uid": uid, **done})


def _python_column(
    engine: Engine,
    stage_table: str,
    tags: TagSet,
    column: ArrowColumn,
    done: dict[str, pa.ChunkedArray],
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The values of one Python column and the uids they are for."""
    reads = [d for d in tags if d in tags.tag_dependencies(column.tag.name)]
    stored = [d for d in reads if d not in done]
    missing = set(stored) - set(engine.columns(stage_table))
    assert not missing, f"{sorted(missing)} are not in {stage_table}"
    query = (
        exp.select("uid", "user_id", *(exp.column(d, quoted=True) for d in stored))
        .from_(stage_table)
        .order_by("uid")
    )
    try:  # the stage is a view: its assembly runs here, and its errors are the assembly's
        inputs = engine.to_arrow(query)
    except PortraitError:
        raise
    except Exception as exc:  # the engine's own error type varies by engine
        raise BuildError(
            f"assembling the profile failed: {_first_line(exc)}", hint=_hint(exc, _ASSEMBLE_HINT)
        ) from exc
    for d in reads:
        if d in done:
            inputs = inputs.append_column(d, done[d])
    inputs = inputs.select(["uid", "user_id", *reads])
    values = column.compute(inputs)
    if len(values) != inputs.num_rows:
        raise ValueError(f"{len(values)} values for {inputs.num_rows} users")
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    return values, inputs.column("uid")


_MEMORY_HINT = (
    "the engine ran out of memory within its limit: raise engine.memory_limit in portrait.toml "
    "(or PORTRAIT_ENGINE_MEMORY_LIMIT), or leave it empty for the engine's default"
)


def _hint(exc: Exception, hint: str) -> str:
    """What to do about a failed step: the step's own hint, unless the engine ran out of
    memory (no tag definition is to blame then)."""
    if "OutOfMemory" in type(exc).__name__ or "Out of Memory" in str(exc):
        return _MEMORY_HINT
    return hint


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
